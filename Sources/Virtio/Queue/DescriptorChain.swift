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
///
/// A chain is a value, but the queue fills the buffer lists of the next chain into the
/// storage of one that was dropped (``SplitVirtqueue/popAvailable(into:)``), so that popping
/// allocates nothing in steady state; a chain still held elsewhere keeps its own copy.
public struct DescriptorChain: Sendable {
    /// The head index to return in the used ring.
    public internal(set) var head: UInt16
    /// Device-readable buffers, in order.
    public internal(set) var readable: [GuestBuffer]
    /// Device-writable buffers, in order.
    public internal(set) var writable: [GuestBuffer]
    /// Total bytes the device may read.
    public internal(set) var readableLength: Int
    /// Total bytes the device may write.
    public internal(set) var writableLength: Int

    init(head: UInt16, readable: [GuestBuffer], writable: [GuestBuffer]) {
        self.head = head
        self.readable = readable
        self.writable = writable
        self.readableLength = readable.reduce(0) { $0 + Int($1.length) }
        self.writableLength = writable.reduce(0) { $0 + Int($1.length) }
    }

    /// A chain with no buffers: storage for ``SplitVirtqueue/popAvailable(into:)`` to fill.
    public init() {
        self.init(head: 0, readable: [], writable: [])
    }

    /// Empties the buffer lists for the next walk, keeping their storage.
    mutating func reset(head: UInt16) {
        self.head = head
        readable.removeAll(keepingCapacity: true)
        writable.removeAll(keepingCapacity: true)
        readableLength = 0
        writableLength = 0
    }
}
