import Foundation

/// Decodes UTF-8 text that arrives in arbitrary chunks (pipe reads), holding back a character
/// split between two chunks instead of turning its halves into replacement characters.
struct UTF8StreamDecoder {
    private var pending: [UInt8] = []

    /// The text of `chunk` after what was held back, up to the last complete character.
    mutating func decode(_ chunk: Data) -> String {
        var bytes = pending
        bytes.append(contentsOf: chunk)
        let complete = Self.completePrefixLength(bytes)
        pending = Array(bytes[complete...])
        return String(decoding: bytes[..<complete], as: UTF8.self)
    }

    /// Whatever is still held back (an incomplete character at the end of the stream).
    mutating func finish() -> String {
        defer { pending = [] }
        return String(decoding: pending, as: UTF8.self)
    }

    /// `bytes` up to, but not including, a multi-byte sequence that its last bytes begin but do
    /// not finish. Malformed bytes are left in (they decode as replacement characters).
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        // A sequence is at most 4 bytes: look back at most 3 for its lead byte.
        var i = bytes.count - 1
        while i >= 0, i >= bytes.count - 3 {
            let b = bytes[i]
            if b & 0xC0 == 0x80 { i -= 1; continue }  // continuation byte
            let length = b & 0xE0 == 0xC0 ? 2 : b & 0xF0 == 0xE0 ? 3 : b & 0xF8 == 0xF0 ? 4 : 1
            return bytes.count - i < length ? i : bytes.count
        }
        return bytes.count
    }
}
