/// How a virtio-net device is set up (Virtualization.framework style: a small value type).
public struct VirtioNetConfiguration: Sendable {
    public var mac: MACAddress
    /// Advertised MTU (`VIRTIO_NET_F_MTU`), 68…65535 (§5.1.4.1).
    public var mtu: UInt16
    /// Size of each of the rx/tx queues: a power of two, at most 32768.
    public var queueSize: UInt16

    public init(mac: MACAddress = .locallyAdministered(seed: 0x12_34_56), mtu: UInt16 = 1500, queueSize: UInt16 = 256) {
        self.mac = mac
        self.mtu = mtu
        self.queueSize = queueSize
    }

    /// Checks the values against the limits the spec puts on them.
    public func validate() throws(VirtioNetError) {
        guard mtu >= 68 else { throw .invalidMTU(mtu) }
        guard queueSize > 0, queueSize <= 32768, queueSize & (queueSize - 1) == 0 else {
            throw .invalidQueueSize(queueSize)
        }
    }
}
