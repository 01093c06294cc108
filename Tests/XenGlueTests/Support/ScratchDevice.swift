import DeviceModel
import Synchronization

/// A device whose registers are plain bytes: writes store little-endian bytes at the
/// offset, reads return them. Every access is logged.
final class ScratchDevice: IOHandler {
    struct Access: Equatable, CustomStringConvertible {
        var offset: UInt64
        var size: Int
        var write: Bool
        var value: UInt64
        var description: String { "\(write ? "W" : "R")\(size)@\(offset)=0x\(String(value, radix: 16))" }
    }

    private struct State {
        var bytes: [UInt8]
        var log: [Access] = []
    }
    private let state: Mutex<State>

    /// Reads take this long: lets a test be sure the vCPU sleeps before the answer.
    let readDelayMs: Int

    init(length: Int, fill: UInt8 = 0, readDelayMs: Int = 0) {
        state = Mutex(State(bytes: [UInt8](repeating: fill, count: length)))
        self.readDelayMs = readDelayMs
    }

    func read(at offset: UInt64, size: Int) -> UInt64 {
        if readDelayMs > 0 { usleepMs(readDelayMs) }
        return state.withLock { s in
            var v: UInt64 = 0
            for i in 0..<size where Int(offset) + i < s.bytes.count {
                v |= UInt64(s.bytes[Int(offset) + i]) << (8 * UInt64(i))
            }
            s.log.append(Access(offset: offset, size: size, write: false, value: v))
            return v
        }
    }

    func write(at offset: UInt64, size: Int, value: UInt64) {
        state.withLock { s in
            for i in 0..<size where Int(offset) + i < s.bytes.count {
                s.bytes[Int(offset) + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))
            }
            s.log.append(Access(offset: offset, size: size, write: true, value: value))
        }
    }

    var log: [Access] { state.withLock { $0.log } }
    func clearLog() { state.withLock { $0.log.removeAll() } }

    /// Presets the register bytes at `offset`.
    func preset(_ bytes: [UInt8], at offset: Int) {
        state.withLock { s in
            for (i, b) in bytes.enumerated() { s.bytes[offset + i] = b }
        }
    }

    func bytes(at offset: Int, count: Int) -> [UInt8] {
        state.withLock { Array($0.bytes[offset..<(offset + count)]) }
    }
}
