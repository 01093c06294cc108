/// Cuts a QMP client's byte stream into top-level JSON texts, as QEMU's JSON streamer does:
/// by bracket depth outside strings, so messages need no separator and may arrive in any
/// pieces. A message longer than ``maximumMessageBytes`` or nested deeper than
/// ``JSONParser/maximumDepth`` is reported as an error and skipped up to its end.
struct QMPMessageSplitter {
    /// Longest message accepted (QEMU allows 64 MiB; nothing swiftdm serves needs more than this).
    static let maximumMessageBytes = 1 << 20

    enum Piece: Equatable {
        case message([UInt8])
        case tooLong
    }

    private var buffer: [UInt8] = []
    private var depth = 0
    private var inString = false
    private var escaped = false
    private var discarding = false

    /// Feeds `bytes`; returns the complete messages they finish, in order.
    mutating func feed(_ bytes: some Sequence<UInt8>) -> [Piece] {
        var out: [Piece] = []
        for b in bytes {
            if depth == 0 && !inString {
                // Between messages: whitespace separates; anything else starts a (bad) text.
                if b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { continue }
            }
            if !discarding { buffer.append(b) }
            if inString {
                if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false }
            } else if b == UInt8(ascii: "\"") {
                inString = true
            } else if b == UInt8(ascii: "{") || b == UInt8(ascii: "[") {
                depth += 1
            } else if b == UInt8(ascii: "}") || b == UInt8(ascii: "]") {
                depth -= 1
            }
            if !discarding && buffer.count > Self.maximumMessageBytes {
                discarding = true
                buffer.removeAll()
                out.append(.tooLong)
            }
            if depth <= 0 && !inString {
                // A scalar at top level (or a stray closer) ends at once: it is a message too, and the parser rejects it.
                if !discarding { out.append(.message(buffer)) }
                buffer.removeAll(keepingCapacity: true)
                depth = 0
                discarding = false
            }
        }
        return out
    }
}
