import DeviceModel

/// Errors a device reports from activation or while running.
public enum VirtioDeviceError: Error, Equatable, CustomStringConvertible {
    /// The driver violated the queue protocol.
    case queue(index: Int, VirtqueueError)
    /// A request's layout is wrong in a way the device cannot answer with a status byte.
    case malformedRequest(queue: Int, head: UInt16, reason: String)
    /// Activation without a queue the device needs.
    case missingQueue(Int)
    /// A host resource (file, socket, thread) failed.
    case host(what: String, errno: Int32)
    /// Guest memory faulted under the device (its file was truncated by the process that
    /// owns it): nothing the device read or wrote since can be trusted.
    case guestMemoryPoisoned
    /// The device could not take back its own saved state when it resumed after a quiesce.
    case stateRestore(String)

    public var description: String {
        switch self {
        case .queue(let i, let e): "queue \(i): \(e)"
        case .malformedRequest(let q, let h, let r): "queue \(q) head \(h): \(r)"
        case .missingQueue(let i): "queue \(i) is required but was not set up by the driver"
        case .host(let what, let e): "\(what) (errno \(e))"
        case .guestMemoryPoisoned: "guest memory faulted (its backing file was truncated)"
        case .stateRestore(let why): "restoring the device's state after a pause failed: \(why)"
        }
    }
}

/// How a running device reaches its driver, implemented by each transport (virtio-mmio,
/// virtio-pci, vhost-user). The device never sees registers, vectors or fds.
public protocol VirtioInterruptSink: AnyObject, Sendable {
    /// Used-buffer notification for queue `index` (the device already applied suppression
    /// with ``SplitVirtqueue/needsNotification()``).
    func signalUsedBuffers(queue index: Int)
    /// Configuration-change notification (§4: config space changed).
    func signalConfigChange()
    /// The device hit an unrecoverable driver error: the transport sets
    /// `DEVICE_NEEDS_RESET` and sends a configuration-change notification (§2.1.2).
    func deviceNeedsReset(_ error: VirtioDeviceError)
}

/// One queue handed to the device at activation.
public struct VirtioQueueBinding: Sendable {
    /// Queue index as the device defines it (e.g. 0 = receiveq for console).
    public let index: Int
    public let queue: SplitVirtqueue
    /// Signalled when the driver notifies this queue (an ioeventfd, a vhost-user kick fd).
    public let kick: EventNotifier

    public init(index: Int, queue: SplitVirtqueue, kick: EventNotifier) {
        self.index = index
        self.queue = queue
        self.kick = kick
    }
}

/// Everything a device needs once the driver sets `DRIVER_OK`.
public struct VirtioActivation: Sendable {
    /// The features both sides agreed on.
    public let features: UInt64
    public let memory: any GuestMemory
    /// The queues the driver enabled, by index (disabled queues are absent).
    public let queues: [VirtioQueueBinding]
    public let interrupts: any VirtioInterruptSink
    /// True when the activation continues a device whose own state (``DeviceModel/DeviceStateful``)
    /// is loaded right after it — a snapshot restored, a device resumed after a save — rather
    /// than a driver's `DRIVER_OK`. The queues may already hold requests the guest made
    /// against that state: a device whose requests depend on it serves no queue until its
    /// `restoreState` has run.
    public let continuesSavedState: Bool

    public init(features: UInt64, memory: any GuestMemory, queues: [VirtioQueueBinding], interrupts: any VirtioInterruptSink,
                continuesSavedState: Bool = false) {
        self.features = features
        self.memory = memory
        self.queues = queues
        self.interrupts = interrupts
        self.continuesSavedState = continuesSavedState
    }

    /// True when `feature` was negotiated.
    public func has(_ feature: UInt64) -> Bool { features & feature == feature }

    /// The binding for queue `index`, if the driver enabled it.
    public func queue(_ index: Int) -> VirtioQueueBinding? { queues.first { $0.index == index } }
}

/// A virtio device type, written once against the DeviceModel protocols and served by any
/// transport (virtio 1.2 §2, §3). Implementations are thread-safe: transports call these
/// from vCPU threads or a vhost-user connection thread.
public protocol VirtioDevice: AnyObject, Sendable {
    /// The device ID (§5).
    var deviceType: VirtioDeviceType { get }
    /// Features the device offers, including transport-independent bits such as
    /// `VIRTIO_F_VERSION_1`, `EVENT_IDX` and `INDIRECT_DESC`.
    var offeredFeatures: UInt64 { get }
    /// Maximum size of each queue; the count is the number of queues.
    var queueMaxSizes: [UInt16] { get }
    /// The device-specific configuration space as the driver would read it now.
    func readConfig() -> [UInt8]
    /// A driver write of `bytes` at `offset` into the configuration space; writes to
    /// read-only fields are ignored.
    func writeConfig(offset: Int, bytes: [UInt8])
    /// Starts the device with the negotiated features and the driver's queues. The device
    /// processes a queue whenever its `kick` fires (and once at start).
    func activate(_ activation: VirtioActivation) throws(VirtioDeviceError)
    /// Stops the device: waits for in-flight requests to complete into the used rings, then
    /// stops watching kicks and forgets the queues. Idempotent. After it returns the device
    /// touches no guest memory (§2.4: reset must complete before status reads 0).
    func reset()
}
