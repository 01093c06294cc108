import DeviceModel
import Dispatch
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
/// ``failDeliveries(with:)`` makes deliveries fail, to exercise a device's error path;
/// ``holdDeliveries()`` makes them wait, as a device's interrupt that is still on its way
/// while something else happens (a snapshot, a reset).
public final class RecordingMSIController: MSIController {
    /// Every delivered message, oldest first; wait on it with ``EventRecorder/next(timeout:)``.
    public let messages = EventRecorder<MSIMessage>()
    /// Messages that arrived while deliveries were held, in arrival order (they are recorded
    /// in ``messages`` once released).
    public let heldMessages = EventRecorder<MSIMessage>()
    private let failure = Mutex<InterruptError?>(nil)
    private let held = Mutex(false)
    private let release = DispatchSemaphore(value: 0)

    /// Creates a controller with no messages recorded.
    public init() {}

    /// Records `message`, or throws the error set by ``failDeliveries(with:)`` (and records
    /// nothing). While deliveries are held, blocks the signalling thread until
    /// ``releaseDeliveries()``.
    public func signal(_ message: MSIMessage) throws(InterruptError) {
        if let error = failure.withLock({ $0 }) { throw error }
        if held.withLock({ $0 }) {
            heldMessages.record(message)
            release.wait()
            // Let the next held delivery through too (the release is one signal for all).
            release.signal()
        }
        messages.record(message)
    }

    /// From now on, ``signal(_:)`` blocks its caller before recording, until
    /// ``releaseDeliveries()``.
    public func holdDeliveries() {
        held.withLock { $0 = true }
        // A previous release may have left the semaphore open.
        while release.wait(timeout: .now()) == .success {}
    }

    /// Lets held deliveries (and later ones) through.
    public func releaseDeliveries() {
        held.withLock { $0 = false }
        release.signal()
    }

    /// From now on, ``signal(_:)`` throws `error` instead of delivering; `nil` restores delivery.
    public func failDeliveries(with error: InterruptError?) {
        failure.withLock { $0 = error }
    }
}
