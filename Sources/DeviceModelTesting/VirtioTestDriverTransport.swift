import DeviceModel

/// Where the driver places one virtqueue: the queue size and the three ring addresses.
/// For legacy interfaces the rings are contiguous (`VirtqueueLayout.legacy`) and only
/// `descriptorTable` (a page-aligned base) and `size` are programmed.
public struct VirtioTestRingPlacement: Sendable, Hashable {
    /// Queue size (any 32-bit value, for malicious tests).
    public var size: UInt32
    /// Descriptor table (or the legacy ring base).
    public var descriptorTable: UInt64
    /// Available ring ("driver area").
    public var availRing: UInt64
    /// Used ring ("device area").
    public var usedRing: UInt64

    /// A placement with the given size and addresses.
    public init(size: UInt32, descriptorTable: UInt64, availRing: UInt64, usedRing: UInt64) {
        self.size = size
        self.descriptorTable = descriptorTable
        self.availRing = availRing
        self.usedRing = usedRing
    }
}

/// An interrupt the driver took, decoded as Linux's handlers do (`vm_interrupt`,
/// `vp_interrupt`, or the MSI-X vector's handler).
public struct VirtioTestInterrupt: Sendable, Hashable, CustomStringConvertible {
    /// Used-buffer notification (InterruptStatus / ISR bit 0, or a queue's MSI-X vector).
    public var usedBuffers: Bool
    /// Configuration change (bit 1, or the configuration MSI-X vector).
    public var configChange: Bool
    /// The MSI-X vector, when delivered by MSI-X.
    public var msixVector: UInt16?

    /// An interrupt with the given causes.
    public init(usedBuffers: Bool, configChange: Bool, msixVector: UInt16? = nil) {
        self.usedBuffers = usedBuffers
        self.configChange = configChange
        self.msixVector = msixVector
    }

    public var description: String {
        var parts: [String] = []
        if usedBuffers { parts.append("used") }
        if configChange { parts.append("config") }
        if let v = msixVector { parts.append("vector \(v)") }
        return "interrupt(\(parts.joined(separator: ", ")))"
    }
}

/// The driver's view of one transport's registers (virtio-mmio, virtio-pci modern, or the
/// legacy PCI I/O BAR). ``VirtioTestDriver`` runs the same init sequence and queue code over
/// any of them.
public protocol VirtioTestTransport: AnyObject {
    /// The virtio device ID (§5).
    var deviceID: UInt32 { get }
    /// True when the rings must use the legacy contiguous layout with ``legacyAlignment``,
    /// `VERSION_1` is not negotiated and `FEATURES_OK` is skipped.
    var isLegacy: Bool { get }
    /// The legacy used-ring alignment (4096).
    var legacyAlignment: UInt64 { get }
    /// True when interrupts arrive as MSI-X messages rather than on a wired line.
    var usesMSIX: Bool { get }
    /// True when the driver cannot choose the queue size (legacy virtio-pci: `QUEUE_NUM` is
    /// read-only, the rings must use the maximum).
    var queueSizeIsFixed: Bool { get }

    /// The device status register.
    func readStatus() -> UInt8
    /// Writes the device status register (0 resets the device).
    func writeStatus(_ status: UInt8)
    /// All 64 device feature bits (32 on a legacy interface).
    func readDeviceFeatures() -> UInt64
    /// Writes the driver feature bits (the low 32 on a legacy interface).
    func writeDriverFeatures(_ features: UInt64)

    /// Number of queues the transport reports, if it reports one (virtio-pci `num_queues`).
    var queueCountHint: Int? { get }
    /// The device's maximum size for queue `index`; 0 when the queue does not exist.
    func queueMaxSize(_ index: Int) -> UInt32
    /// Whether queue `index` is enabled (QueueReady, queue_enable, or a non-zero PFN).
    func queueEnabled(_ index: Int) -> Bool
    /// Programs queue `index` (size and rings, and the MSI-X vector when MSI-X is in use)
    /// and enables it. Returns the vector the device accepted.
    @discardableResult
    func configureQueue(_ index: Int, placement: VirtioTestRingPlacement, msixVector: UInt16?) -> UInt16?
    /// Sets the configuration-change MSI-X vector; returns what the device read back.
    @discardableResult
    func setConfigVector(_ vector: UInt16) -> UInt16
    /// The queue-notify write (QueueNotify, the notify capability address, or QUEUE_NOTIFY).
    func notify(queue index: Int)

    /// Reads `size` bytes at `offset` of the device configuration space.
    func readConfig(offset: Int, size: Int) -> UInt64
    /// Writes `size` bytes of `value` at `offset` of the device configuration space.
    func writeConfig(offset: Int, size: Int, value: UInt64)
    /// `ConfigGeneration` / `config_generation`; constant 0 where the interface has none.
    func configGeneration() -> UInt32

    /// The wired-interrupt handler's register access: reads and acknowledges InterruptStatus
    /// (virtio-mmio) or reads (and so clears) the ISR (virtio-pci INTx).
    func acknowledgeInterrupt() -> VirtioTestInterrupt
    /// The MSI-X vector a delivered message stands for, as programmed by this transport.
    func msixVector(of message: MSIMessage) -> UInt16?
}
