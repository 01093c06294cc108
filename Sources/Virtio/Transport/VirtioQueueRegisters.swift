/// The driver-programmed configuration of one virtqueue, common to all transports
/// (virtio 1.2 §4.1.4.3 `queue_*`, §4.2.2 `Queue*`, and the legacy `QueuePFN` interface).
struct VirtioQueueRegisters: Sendable {
    /// `VIRTIO_MSI_NO_VECTOR` (§4.1.4.3.1 / §4.1.5.1.2).
    static let noVector: UInt16 = 0xFFFF

    /// The device's maximum; 0 would mean "queue not available", which the core never creates.
    let maxSize: UInt16
    /// The size the driver chose (it may write any 32-bit value on virtio-mmio; validated at
    /// `DRIVER_OK`). Resets to ``maxSize`` (§4.1.4.3: `queue_size` reads the maximum on reset).
    var size: UInt32
    /// `queue_enable` / `QueueReady`.
    var enabled = false
    var descriptorTable: UInt64 = 0
    /// Avail ring ("driver area").
    var driverArea: UInt64 = 0
    /// Used ring ("device area").
    var deviceArea: UInt64 = 0
    /// `queue_msix_vector` (virtio-pci only).
    var msixVector: UInt16 = noVector
    /// Legacy `QueuePFN` / `QUEUE_PFN`: the ring's guest page frame; 0 = queue not in use.
    var legacyPageFrame: UInt32 = 0
    /// Legacy `QueueAlign` (virtio-mmio version 1); legacy PCI always uses 4096.
    var legacyAlignment: UInt32 = 4096

    init(maxSize: UInt16) {
        self.maxSize = maxSize
        self.size = UInt32(maxSize)
    }

    /// Back to the state after device reset.
    mutating func reset() { self = VirtioQueueRegisters(maxSize: maxSize) }

    mutating func setLow(_ field: WritableKeyPath<VirtioQueueRegisters, UInt64>, _ value: UInt32) {
        self[keyPath: field] = self[keyPath: field] & 0xFFFF_FFFF_0000_0000 | UInt64(value)
    }

    mutating func setHigh(_ field: WritableKeyPath<VirtioQueueRegisters, UInt64>, _ value: UInt32) {
        self[keyPath: field] = self[keyPath: field] & 0xFFFF_FFFF | UInt64(value) << 32
    }
}
