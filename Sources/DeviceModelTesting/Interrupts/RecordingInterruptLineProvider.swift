import DeviceModel
import Synchronization

/// An ``InterruptLineProvider`` whose lines are ``RecordingInterruptLine``s.
///
/// Lines exist for GSIs `0..<lineCount` (24 by default, an IOAPIC's worth); asking for
/// another throws ``InterruptError/invalidLine(_:)`` as a backend would. Asking twice for
/// the same GSI returns the same line, so a test and a device see one shared level.
public final class RecordingInterruptLineProvider: InterruptLineProvider {
    /// Number of GSIs this provider serves.
    public let lineCount: UInt32
    private let lines = Mutex<[UInt32: RecordingInterruptLine]>([:])

    /// Creates a provider for GSIs `0..<lineCount`.
    public init(lineCount: UInt32 = 24) { self.lineCount = lineCount }

    /// The line for `gsi` (a ``RecordingInterruptLine``), as a device asks for it.
    public func line(gsi: UInt32) throws(InterruptError) -> any InterruptLine {
        try recordingLine(gsi: gsi)
    }

    /// The line for `gsi` with its recording API.
    public func recordingLine(gsi: UInt32) throws(InterruptError) -> RecordingInterruptLine {
        guard gsi < lineCount else { throw .invalidLine(gsi) }
        return lines.withLock { lines in
            if let line = lines[gsi] { return line }
            let line = RecordingInterruptLine(gsi: gsi)
            lines[gsi] = line
            return line
        }
    }
}
