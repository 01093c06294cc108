import DeviceModel
import Synchronization

/// An ``MSIController`` that records every delivered message instead of interrupting a CPU.
///
/// Devices under test signal it exactly as they would KVM's or Xen's controller. A test
/// inspects ``messages`` or waits for the next delivery:
///
/// ```swift
/// try machine.vcpu.write(.memory, notifyAddress, size: 2, value: 0)
/// let msi = machine.msi.messages.next(timeout: .seconds(10))
/// #expect(msi?.vector == 0x41)
/// ```
///
/// ``failDeliveries(with:)`` makes deliveries fail, to exercise a device's error path.
public final class RecordingMSIController: MSIController {
    /// Every delivered message, oldest first; wait on it with ``EventRecorder/next(timeout:)``.
    public let messages = EventRecorder<MSIMessage>()
    private let failure = Mutex<InterruptError?>(nil)

    /// Creates a controller with no messages recorded.
    public init() {}

    /// Records `message`, or throws the error set by ``failDeliveries(with:)`` (and records
    /// nothing).
    public func signal(_ message: MSIMessage) throws(InterruptError) {
        if let error = failure.withLock({ $0 }) { throw error }
        messages.record(message)
    }

    /// From now on, ``signal(_:)`` throws `error` instead of delivering; `nil` restores delivery.
    public func failDeliveries(with error: InterruptError?) {
        failure.withLock { $0 = error }
    }
}
