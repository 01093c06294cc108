import DeviceModel
import Synchronization

/// One access a ``RecordingIOHandler`` served.
public struct IOAccess: Sendable, Hashable, CustomStringConvertible {
    /// Offset from the start of the handler's range.
    public var offset: UInt64
    /// Access width in bytes.
    public var size: Int
    /// Read or write.
    public var direction: IODirection
    /// The value written, or the value the read returned.
    public var value: UInt64

    /// Describes one access.
    public init(offset: UInt64, size: Int, direction: IODirection, value: UInt64) {
        self.offset = offset
        self.size = size
        self.direction = direction
        self.value = value
    }

    public var description: String {
        "\(direction == .read ? "read" : "write") \(size)B @0x\(String(offset, radix: 16)) = 0x\(String(value, radix: 16))"
    }
}

/// A plain register file: an ``IOHandler`` backed by little-endian bytes that records every
/// access. Useful as a stand-in device when testing dispatch, transports or a backend.
///
/// Guest accesses go through ``read(at:size:)``/``write(at:size:value:)`` and are recorded in
/// ``accesses``; a test inspects or presets the bytes with ``peek(at:size:)`` and
/// ``poke(at:size:value:)``, which are not recorded. Bytes past ``length`` read as ones and
/// ignore writes (a handler registered with a larger range than its storage).
public final class RecordingIOHandler: IOHandler {
    /// Number of backing bytes.
    public let length: Int
    /// Every access served, oldest first.
    public let accesses = EventRecorder<IOAccess>()
    private let bytes: Mutex<[UInt8]>

    /// Creates a register file of `length` zero bytes (negative lengths count as 0).
    public init(length: Int) {
        self.length = max(length, 0)
        self.bytes = Mutex([UInt8](repeating: 0, count: max(length, 0)))
    }

    /// Returns the stored bytes and records the access.
    public func read(at offset: UInt64, size: Int) -> UInt64 {
        let value = peek(at: offset, size: size)
        accesses.record(IOAccess(offset: offset, size: size, direction: .read, value: value))
        return value
    }

    /// Records the access and stores the bytes.
    public func write(at offset: UInt64, size: Int, value: UInt64) {
        accesses.record(IOAccess(offset: offset, size: size, direction: .write, value: value))
        poke(at: offset, size: size, value: value)
    }

    /// The little-endian value of `size` bytes at `offset`, without recording an access.
    public func peek(at offset: UInt64, size: Int) -> UInt64 {
        let width = min(max(size, 0), 8)
        return bytes.withLock { b in
            var value: UInt64 = 0
            for i in 0..<width {
                let byte: UInt64 = Self.index(offset, plus: i, below: b.count).map { UInt64(b[$0]) } ?? 0xFF
                value |= byte << UInt64(8 * i)
            }
            return value
        }
    }

    /// Stores the low `size` bytes of `value` little-endian at `offset`, without recording.
    public func poke(at offset: UInt64, size: Int, value: UInt64) {
        let width = min(max(size, 0), 8)
        bytes.withLock { b in
            for i in 0..<width {
                guard let index = Self.index(offset, plus: i, below: b.count) else { continue }
                b[index] = UInt8(truncatingIfNeeded: value >> UInt64(8 * i))
            }
        }
    }

    private static func index(_ offset: UInt64, plus i: Int, below count: Int) -> Int? {
        let (position, overflow) = offset.addingReportingOverflow(UInt64(i))
        guard !overflow, position < UInt64(count) else { return nil }
        return Int(position)
    }
}
