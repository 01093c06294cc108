import DeviceModel
import Display
import Logging
import Virtio

/// virtio-input (virtio 1.2 §5.8, device ID 18): a keyboard, a tablet (absolute pointer) or
/// a mouse that passes evdev events to the guest's `virtio_input` driver.
///
/// Outputs (a VNC client, through an ``InputRouter``) call ``receive(_:)`` from their own
/// threads; each batch becomes one report followed by `SYN_REPORT` on the eventq, waiting in
/// a bounded backlog until the driver posts buffers. The statusq carries the guest's LED
/// changes back (``ledState``). The configuration space answers the driver's
/// `select`/`subsel` queries with what QEMU's virtio-keyboard/-mouse/-tablet advertise.
public final class VirtioInputDevice: VirtioDevice, InputEventSink {
    /// The eventq's index (§5.8.2): events to the driver.
    public static let eventQueue = 0
    /// The statusq's index (§5.8.2): events (LEDs) from the driver.
    public static let statusQueue = 1

    /// What the device is and its limits.
    public let configuration: VirtioInputConfiguration
    /// The device's I/O thread and queues.
    public let service: VirtqueueService
    let capabilities: InputCapabilities
    let configSpace: InputConfigSpace
    let events: InputEventQueue
    let status: InputStatusQueue
    private let encoder: InputEventEncoder

    /// Creates the device and its I/O thread (named `name`, or "vinput-<kind>", which fits
    /// Linux's 15-character thread names).
    public init(configuration: VirtioInputConfiguration, name: String? = nil,
                logger: Logger = Logger(label: "swiftdm.virtio-input")) throws(VirtioInputError) {
        try configuration.validate()
        self.configuration = configuration
        do { service = try VirtqueueService(name: name ?? "vinput-\(configuration.kind)") } catch {
            throw .runtime(error)
        }
        capabilities = InputCapabilities(kind: configuration.kind, name: configuration.effectiveName,
                                         serial: configuration.serial)
        configSpace = InputConfigSpace(capabilities: capabilities)
        encoder = InputEventEncoder(capabilities: capabilities)
        events = InputEventQueue(loop: service.loop, backlogLimit: configuration.backlogLimit, logger: logger)
        status = InputStatusQueue(capabilities: capabilities)
    }

    // MARK: VirtioDevice

    public var deviceType: VirtioDeviceType { .input }

    /// No device-specific features (§5.8.3); the ring features every device here offers.
    public var offeredFeatures: UInt64 {
        VirtioFeature.version1 | VirtioFeature.eventIndex | VirtioFeature.indirectDescriptors
    }

    /// eventq and statusq.
    public var queueMaxSizes: [UInt16] { [configuration.queueSize, configuration.queueSize] }

    /// `struct virtio_input_config` for the current `select`/`subsel`.
    public func readConfig() -> [UInt8] { configSpace.bytes() }

    /// Only `select` and `subsel` are writable.
    public func writeConfig(offset: Int, bytes: [UInt8]) { configSpace.write(offset: offset, bytes: bytes) }

    public func activate(_ activation: VirtioActivation) throws(VirtioDeviceError) {
        // A continued device delivers nothing before its saved backlog and LEDs are loaded.
        status.setHeld(activation.continuesSavedState)
        service.start(activation, handlers: [Self.eventQueue: events, Self.statusQueue: status])
        events.open(held: activation.continuesSavedState)
    }

    /// Stops the queues and forgets the backlog, the LEDs and the configuration selection.
    public func reset() {
        // Queue first: delivery must not find the backlog emptied under it.
        service.stop()
        events.close()
        status.reset()
        configSpace.reset()
    }

    // MARK: InputEventSink

    public var inputKind: InputDeviceKind { configuration.kind }

    /// Queues `events` as one report for the guest; events this kind of device does not
    /// send are ignored, and so is everything while no driver has activated the device.
    /// Any thread.
    public func receive(_ events: [InputEvent]) {
        let report = encoder.report(for: events)
        guard !report.isEmpty else { return }
        self.events.enqueue(report)
    }

    // MARK: State

    /// The keyboard LEDs as the guest last set them (always empty for a tablet or mouse).
    public var ledState: InputLEDs { status.leds }

    /// Events waiting for eventq buffers.
    public var backlogCount: Int { events.backlogCount }
}
