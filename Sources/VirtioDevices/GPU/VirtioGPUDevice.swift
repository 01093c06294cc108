import DeviceModel
import Display
import Logging
import Synchronization
import Virtio

/// virtio-gpu in 2D mode (virtio 1.2 §5.7, device ID 16; QEMU's `virtio-gpu-device`
/// without virgl or blobs): the guest creates resources, backs them with its pages, copies
/// them to the host (`TRANSFER_TO_HOST_2D`) and shows them on scanouts. Scanout `i` draws
/// into `display.surfaces[i]`.
///
/// Both queues run on the device's one I/O thread (its ``VirtqueueService``); the
/// resource table sits behind one lock (see `GPU2DRenderer`). Host memory is bounded by
/// ``VirtioGPUConfiguration/maxHostMemory``: resource images as QEMU counts them
/// (`width × height × 4`), plus the display surface of every enabled scanout, which this
/// device keeps as a copy where QEMU's surface points into the resource.
public final class VirtioGPUDevice: VirtioDevice {
    public let configuration: VirtioGPUConfiguration
    public let display: GuestDisplay
    public let service: VirtqueueService
    let renderer: GPU2DRenderer
    let events = Mutex(Events())

    struct Events {
        var read: UInt32 = 0
        var interrupts: (any VirtioInterruptSink)?
        /// Guest memory of the running activation (backing entries are checked against it).
        var memory: (any GuestMemory)?
    }

    /// A device with `configuration.scanouts.count` scanouts on the first surfaces of `display`.
    public init(configuration: VirtioGPUConfiguration = .init(), display: GuestDisplay, name: String = "virtio-gpu",
                logger: Logger = Logger(label: "swiftdm.virtio-gpu")) throws(VirtioGPUError) {
        try configuration.validate()
        guard display.surfaces.count >= configuration.scanouts.count else {
            throw .tooFewSurfaces(scanouts: configuration.scanouts.count, surfaces: display.surfaces.count)
        }
        self.configuration = configuration
        self.display = display
        renderer = GPU2DRenderer(configuration: configuration,
                                 surfaces: Array(display.surfaces.prefix(configuration.scanouts.count)), logger: logger)
        do { service = try VirtqueueService(name: name) } catch { throw .runtime(error) }
    }

    deinit { service.shutdown() }

    public var deviceType: VirtioDeviceType { .gpu }

    public var offeredFeatures: UInt64 {
        var f = VirtioFeature.version1 | VirtioFeature.eventIndex | VirtioFeature.indirectDescriptors
        if configuration.edid { f |= VirtioGPUProtocol.featureEDID }
        return f
    }

    /// controlq, cursorq.
    public var queueMaxSizes: [UInt16] { [configuration.controlQueueSize, configuration.cursorQueueSize] }

    /// `struct virtio_gpu_config` (§5.7.4): events_read, events_clear (reads 0),
    /// num_scanouts, num_capsets (0: no 3D).
    public func readConfig() -> [UInt8] {
        var out: [UInt8] = []
        out.appendLittleEndian(events.withLock { $0.read })
        out.appendLittleEndian(UInt32(0))
        out.appendLittleEndian(UInt32(configuration.scanouts.count))
        out.appendLittleEndian(UInt32(0))
        return out
    }

    /// Only `events_clear` (offset 4) is writable: its set bits clear `events_read`.
    public func writeConfig(offset: Int, bytes: [UInt8]) {
        var clear: UInt32 = 0
        for (i, byte) in bytes.enumerated() where (4..<8).contains(offset + i) {
            clear |= UInt32(byte) << (8 * UInt32(offset + i - 4))
        }
        guard clear != 0 else { return }
        events.withLock { $0.read &= ~clear }
    }

    public func activate(_ activation: VirtioActivation) throws(VirtioDeviceError) {
        reset()
        events.withLock { e in
            e.interrupts = activation.interrupts
            e.memory = activation.memory
        }
        // A continued device takes no command before its resources are loaded.
        renderer.setHeld(activation.continuesSavedState)
        service.start(activation, handlers: [
            VirtioGPUProtocol.controlQueue: GPUControlQueueHandler(renderer: renderer),
            VirtioGPUProtocol.cursorQueue: GPUCursorQueueHandler(renderer: renderer),
        ])
    }

    /// Stops the queues, drops every resource and turns every scanout off.
    public func reset() {
        service.stop()
        renderer.reset()
        events.withLock { $0 = Events() }
    }

    /// Tells the driver the display configuration changed (`VIRTIO_GPU_EVENT_DISPLAY` in
    /// `events_read` and a configuration interrupt), so it asks `GET_DISPLAY_INFO` again.
    /// Any thread; nothing happens while the device is not running.
    public func displayChanged() {
        let sink = events.withLock { e -> (any VirtioInterruptSink)? in
            guard let sink = e.interrupts else { return nil }
            e.read |= VirtioGPUProtocol.eventDisplay
            return sink
        }
        sink?.signalConfigChange()
    }

    /// Host bytes the guest's resources and enabled scanouts take now (bounded by
    /// ``VirtioGPUConfiguration/maxHostMemory``).
    public var hostMemoryInUse: Int { renderer.hostMemoryInUse }

    /// How many resources the guest holds.
    public var resourceCount: Int { renderer.resourceCount }
}
