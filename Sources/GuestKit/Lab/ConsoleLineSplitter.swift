import Synchronization

/// Turns console output arriving in chunks (as ``ConsoleProcess`` reads it) into whole lines,
/// for a caller that acts on a line while the guest runs (such as starting a VNC client when
/// the guest prints that its display is ready).
final class ConsoleLineSplitter: Sendable {
    private let pending = Mutex("")
    private let onLine: @Sendable (String) -> Void

    /// `onLine` gets each complete line without its `\n` or `\r`.
    init(onLine: @escaping @Sendable (String) -> Void) { self.onLine = onLine }

    /// Adds `chunk`; calls `onLine` for each line it completes, in order, on the caller's thread.
    func feed(_ chunk: String) {
        // Carriage returns go first: "\r\n" is one Character, which a search for "\n" would miss.
        let text = String(String.UnicodeScalarView(chunk.unicodeScalars.filter { $0 != "\r" }))
        let lines: [String] = pending.withLock { buffer in
            buffer += text
            guard let last = buffer.lastIndex(of: "\n") else { return [] }
            let complete = buffer[..<last]
            buffer = String(buffer[buffer.index(after: last)...])
            return complete.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        }
        for line in lines { onLine(line) }
    }
}
