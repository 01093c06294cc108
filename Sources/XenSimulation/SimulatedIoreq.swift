import CXen
import XenGlue

/// The fields of one `ioreq_t` as the hypervisor fills them in (state and `vp_eport`
/// are set by the sender).
public struct SimulatedIoreq: Sendable, Equatable {
    /// `IOREQ_TYPE_*`.
    public var type: UInt8
    public var address: UInt64
    /// The value (write), or the guest-physical buffer when ``dataIsPointer``.
    public var data: UInt64
    public var size: UInt32
    public var count: UInt32
    public var isRead: Bool
    public var dataIsPointer: Bool
    public var decrementing: Bool

    public init(type: UInt8, address: UInt64, data: UInt64 = 0, size: UInt32, count: UInt32 = 1,
                isRead: Bool, dataIsPointer: Bool = false, decrementing: Bool = false) {
        self.type = type
        self.address = address
        self.data = data
        self.size = size
        self.count = count
        self.isRead = isRead
        self.dataIsPointer = dataIsPointer
        self.decrementing = decrementing
    }

    public static let pio = UInt8(IOREQ_TYPE_PIO)
    public static let copy = UInt8(IOREQ_TYPE_COPY)
    public static let pciConfig = UInt8(IOREQ_TYPE_PCI_CONFIG)
    public static let timeOffset = UInt8(IOREQ_TYPE_TIMEOFFSET)
    public static let invalidate = UInt8(IOREQ_TYPE_INVALIDATE)

    /// The C record with the given state and port.
    func ioreq(state: UInt8, port: XenEventChannelPort) -> ioreq_t {
        swiftdm_ioreq_make(address, data, count, size, port, state,
                           dataIsPointer ? 1 : 0, isRead ? UInt8(IOREQ_READ) : UInt8(IOREQ_WRITE),
                           decrementing ? 1 : 0, type)
    }

    /// First and last byte an MMIO request touches (Xen `hvm_mmio_first_byte`/`last_byte`).
    var mmioBytes: (first: UInt64, last: UInt64) {
        let size = UInt64(size)
        if decrementing {
            return (address &- UInt64(count &- 1) &* size, address &+ size &- 1)
        }
        return (address, address &+ UInt64(count) &* size &- 1)
    }
}
