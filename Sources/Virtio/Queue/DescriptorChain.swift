import DeviceModel

/// A guest-physical buffer that has been checked to lie in guest RAM.
public struct GuestBuffer: Sendable, Hashable {
    public let address: UInt64
    public let length: UInt32

    public init(address: UInt64, length: UInt32) {
        self.address = address
        self.length = length
    }
}

/// One validated descriptor chain popped from the available ring (virtio 1.2 §2.7.5).
///
/// The device reads the request from ``readable`` and writes its answer into ``writable``
/// (through ``ChainReader``/``ChainWriter``), then returns ``head`` to the used ring with
/// ``SplitVirtqueue/pushUsed(head:bytesWritten:)`` — exactly once, also on error.
public struct DescriptorChain: Sendable {
    /// The head index to return in the used ring.
    public let head: UInt16
    /// Device-readable buffers, in order.
    public let readable: [GuestBuffer]
    /// Device-writable buffers, in order.
    public let writable: [GuestBuffer]

    /// Total bytes the device may read.
    public var readableLength: Int { readable.reduce(0) { $0 + Int($1.length) } }
    /// Total bytes the device may write.
    public var writableLength: Int { writable.reduce(0) { $0 + Int($1.length) } }
}
