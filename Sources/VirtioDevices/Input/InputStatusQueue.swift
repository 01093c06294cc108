import Synchronization
import Virtio

/// The statusq (queue 1, virtio 1.2 §5.8.6.2): the driver sends events back to the device —
/// for a keyboard, `EV_LED` when the guest changes its lock LEDs. The device records the LEDs
/// it advertises, ignores other events (as QEMU does) and returns every buffer.
///
/// Buffers must be device-readable and hold whole `virtio_input_event` records; anything
/// else is a driver error (DEVICE_NEEDS_RESET).
final class InputStatusQueue: VirtqueueHandler, Sendable {
    /// The most records read from one chain: Linux sends one per buffer, and a chain
    /// whose readable buffers cover gigabytes must not hold the I/O thread.
    static let maximumEventsPerBuffer = 64

    private let capabilities: InputCapabilities
    private let ledState = Mutex(InputLEDs())
    /// True while the LEDs are frozen for a save, or wait for saved ones: no buffer is taken.
    private let held = Mutex(false)

    init(capabilities: InputCapabilities) { self.capabilities = capabilities }

    /// The LEDs as the guest last set them.
    var leds: InputLEDs { ledState.withLock { $0 } }

    /// All LEDs off (device reset).
    func reset() {
        ledState.withLock { $0 = [] }
        held.withLock { $0 = false }
    }

    /// With `true`, takes no buffer until ``load(_:)`` (a restore) or a reset (after a save).
    func setHeld(_ on: Bool) { held.withLock { $0 = on } }

    /// Sets the LEDs to saved ones and takes buffers again; the caller serves the queue.
    func load(_ leds: InputLEDs) {
        ledState.withLock { $0 = leds }
        held.withLock { $0 = false }
    }

    func serve(_ queue: ServedQueue) {
        guard !held.withLock({ $0 }) else { return }
        queue.forEachRequest { request throws(VirtioDeviceError) in
            let chain = request.chain
            guard chain.writableLength == 0 else {
                throw .malformedRequest(queue: queue.index, head: request.head,
                                        reason: "statusq buffer has \(chain.writableLength) device-writable bytes; status buffers must be device-readable (§5.8.6.2)")
            }
            let length = chain.readableLength
            guard length > 0, length % VirtioInputEvent.size == 0 else {
                throw .malformedRequest(queue: queue.index, head: request.head,
                                        reason: "statusq buffer of \(length) bytes is not a whole number of \(VirtioInputEvent.size)-byte virtio_input_event records (§5.8.6.2)")
            }
            var reader = request.makeReader()
            for _ in 0..<min(length / VirtioInputEvent.size, Self.maximumEventsPerBuffer) {
                let bytes: [UInt8]
                do { bytes = try reader.read(count: VirtioInputEvent.size) } catch {
                    throw .malformedRequest(queue: queue.index, head: request.head, reason: "statusq buffer: \(error)")
                }
                if let event = VirtioInputEvent(bytes: bytes) { apply(event) }
            }
            request.complete(bytesWritten: 0)
            return .proceed
        }
    }

    private func apply(_ event: VirtioInputEvent) {
        guard event.type == Evdev.EventType.led,
              capabilities.supports(type: Evdev.EventType.led, code: event.code),
              let led = InputLEDs(code: event.code) else { return }
        ledState.withLock { state in
            if event.value != 0 { state.insert(led) } else { state.remove(led) }
        }
    }
}
