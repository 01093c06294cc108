import DeviceModel
import Synchronization

/// `InterruptStatus` of a virtio-mmio device and the level-triggered line it drives: the
/// line is asserted exactly while `InterruptStatus` is non-zero (§4.2.2, §4.2.3.4).
final class VirtioMMIOInterruptState: VirtioInterruptDelivery {
    let line: any InterruptLine
    private let pending = Mutex<UInt32>(0)
    private let failures = Atomic<Int>(0)
    private let lastFailure = Mutex<InterruptError?>(nil)

    init(line: any InterruptLine) { self.line = line }

    /// The current `InterruptStatus`.
    var status: UInt32 { pending.withLock { $0 } }

    /// Number of line updates the backend refused, and the last such error.
    var deliveryFailures: (count: Int, last: InterruptError?) {
        (failures.load(ordering: .relaxed), lastFailure.withLock { $0 })
    }

    func deliverUsedBuffers(queue: Int, vector: UInt16) { raise(VirtioMMIORegister.interruptUsedBuffer) }

    func deliverConfigChange(vector: UInt16) { raise(VirtioMMIORegister.interruptConfigChange) }

    func clearInterrupts() { acknowledge(.max) }

    /// Loads a saved `InterruptStatus` and drives the line to match.
    func restore(_ bits: UInt32) {
        pending.withLock { p in
            p = bits & (VirtioMMIORegister.interruptUsedBuffer | VirtioMMIORegister.interruptConfigChange)
            setLevel(p != 0)
        }
    }

    /// `InterruptACK`: clears the written bits; the line drops when none remain.
    func acknowledge(_ bits: UInt32) {
        pending.withLock { p in
            let old = p
            p &= ~bits
            if old != 0 && p == 0 { setLevel(false) }
        }
    }

    private func raise(_ bit: UInt32) {
        pending.withLock { p in
            let old = p
            p |= bit
            // Only transitions matter on a level line; the lock keeps them in order.
            if old == 0 { setLevel(true) }
        }
    }

    private func setLevel(_ asserted: Bool) {
        do { try line.setLevel(asserted) } catch {
            failures.add(1, ordering: .relaxed)
            lastFailure.withLock { $0 = error }
        }
    }
}
