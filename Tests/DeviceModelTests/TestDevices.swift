import DeviceModel
import DeviceModelTesting
import Synchronization

/// A device whose reads have side effects: each read returns the next value of a counter
/// (truncated to the access size) and every access is recorded, like a data FIFO.
final class CountingFIFO: IOHandler {
    let accesses = EventRecorder<IOAccess>()
    private let next = Mutex<UInt64>(0)
    private let step: UInt64

    init(start: UInt64 = 0x10, step: UInt64 = 0x0101) {
        next.withLock { $0 = start }
        self.step = step
    }

    func read(at offset: UInt64, size: Int) -> UInt64 {
        let value = next.withLock { n in
            defer { n &+= step }
            return n & IORequest.mask(forSize: size)
        }
        accesses.record(IOAccess(offset: offset, size: size, direction: .read, value: value))
        return value
    }

    func write(at offset: UInt64, size: Int, value: UInt64) {
        accesses.record(IOAccess(offset: offset, size: size, direction: .write, value: value))
    }
}

/// A handler that returns more bits than the access size, to check the dispatcher masks reads.
final class NoisyHandler: IOHandler {
    let writes = EventRecorder<UInt64>()
    func read(at offset: UInt64, size: Int) -> UInt64 { 0xDEAD_BEEF_CAFE_F00D }
    func write(at offset: UInt64, size: Int, value: UInt64) { writes.record(value) }
}

/// Generous bound on waits for another thread: only a broken implementation reaches it.
let patience: Duration = .seconds(20)
