/// How a virtio-net device is set up (Virtualization.framework style: a small value type).
public struct VirtioNetConfiguration: Sendable {
    public var mac: MACAddress
    /// Advertised MTU (`VIRTIO_NET_F_MTU`), 68…65535 (§5.1.4.1).
    public var mtu: UInt16
    /// Size of each of the rx/tx queues: a power of two, at most 32768.
    public var queueSize: UInt16
    /// Receive/transmit queue pairs (`max_virtqueue_pairs`; more than one offers
    /// `VIRTIO_NET_F_MQ`), each served on its own I/O thread over its own backend.
    public var queuePairs: Int

    /// The most queue pairs a device offers (QEMU's virtio-net allows 1024; Linux uses at
    /// most one per vCPU).
    public static let maximumQueuePairs = 64

    public init(mac: MACAddress = .locallyAdministered(seed: 0x12_34_56), mtu: UInt16 = 1500, queueSize: UInt16 = 256,
                queuePairs: Int = 1) {
        self.mac = mac
        self.mtu = mtu
        self.queueSize = queueSize
        self.queuePairs = queuePairs
    }

    /// Checks the values against the limits the spec puts on them.
    public func validate() throws(VirtioNetError) {
        guard mtu >= 68 else { throw .invalidMTU(mtu) }
        guard queueSize > 0, queueSize <= 32768, queueSize & (queueSize - 1) == 0 else {
            throw .invalidQueueSize(queueSize)
        }
        guard (1...Self.maximumQueuePairs).contains(queuePairs) else { throw .invalidQueuePairs(queuePairs) }
    }
}
