import DeviceModel
import Synchronization

/// The ISR status of a virtio-pci device and how its notifications reach the driver
/// (§4.1.4.5, §4.1.5.4): through the MSI-X vector the driver chose while MSI-X is enabled,
/// otherwise by setting an ISR bit and asserting INTx until the driver reads the ISR.
final class VirtioPCIInterruptState: VirtioInterruptDelivery {
    let configSpace: PCIConfigSpace
    private let isr = Mutex<UInt8>(0)
    private let failures = Atomic<Int>(0)
    private let lastFailure = Mutex<InterruptError?>(nil)

    init(configSpace: PCIConfigSpace) { self.configSpace = configSpace }

    var deliveryFailures: (count: Int, last: InterruptError?) {
        (failures.load(ordering: .relaxed), lastFailure.withLock { $0 })
    }

    /// The ISR without the read side effect (for the host).
    var pendingISR: UInt8 { isr.withLock { $0 } }

    func deliverUsedBuffers(queue: Int, vector: UInt16) {
        if let msix = activeMSIX {
            // §4.1.5.4: with MSI-X enabled the queue bit is not used; NO_VECTOR means no
            // notification at all.
            if send(msix, vector) { return }
        }
        raise(VirtioPCI.isrQueue)
    }

    func deliverConfigChange(vector: UInt16) {
        if let msix = activeMSIX {
            // The configuration bit is set before any configuration notification (§4.1.4.5.1).
            isr.withLock { $0 |= VirtioPCI.isrConfig }
            if send(msix, vector) { return }
        }
        raise(VirtioPCI.isrConfig)
    }

    func clearInterrupts() {
        isr.withLock { bits in
            bits = 0
            configSpace.setINTxLevel(false)
        }
    }

    /// Loads a saved ISR; INTx follows it (it is asserted exactly while ISR bits are set
    /// without MSI-X, and configuration space decides whether the line shows).
    func restoreISR(_ bits: UInt8) {
        isr.withLock { value in
            value = bits & (VirtioPCI.isrQueue | VirtioPCI.isrConfig)
            configSpace.setINTxLevel(value != 0)
        }
    }

    /// A driver read of the ISR: returns the bits and clears them, deasserting INTx.
    func readAndClear() -> UInt8 {
        isr.withLock { bits in
            let value = bits
            bits = 0
            if value != 0 { configSpace.setINTxLevel(false) }
            return value
        }
    }

    private var activeMSIX: MSIXCapability? {
        guard let msix = configSpace.msix, msix.isEnabled else { return nil }
        return msix
    }

    /// Sends `vector` through MSI-X; `false` when MSI-X turned out to be disabled meanwhile,
    /// so the caller falls back to INTx.
    private func send(_ msix: MSIXCapability, _ vector: UInt16) -> Bool {
        guard vector != VirtioQueueRegisters.noVector else { return true }
        do {
            return try msix.notify(vector: Int(vector)) != .disabled
        } catch {
            failures.add(1, ordering: .relaxed)
            lastFailure.withLock { $0 = error }
            return true
        }
    }

    private func raise(_ bit: UInt8) {
        isr.withLock { bits in
            bits |= bit
            configSpace.setINTxLevel(true)
        }
    }
}
