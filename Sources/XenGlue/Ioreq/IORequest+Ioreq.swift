import CXen
import DeviceModel

extension IORequest {
    /// The core request for an I/O `ioreq_t` (`IOREQ_TYPE_PIO`, `IOREQ_TYPE_COPY`,
    /// `IOREQ_TYPE_PCI_CONFIG`); `nil` for other types (INVALIDATE, TIMEOFFSET, …).
    ///
    /// `addr` of a PCI-config request already is the core's `.pciConfig` address
    /// (`SBDF << 32 | register`, see `PCIAddress/configAddress(register:)`).
    /// `data_is_ptr` makes `data` the guest-physical buffer of `count × size` bytes,
    /// walked downwards when `df` is set.
    public init?(xenIoreq r: ioreq_t) {
        let space: IOSpace
        switch Int32(r.type) {
        case IOREQ_TYPE_PIO: space = .port
        case IOREQ_TYPE_COPY: space = .memory
        case IOREQ_TYPE_PCI_CONFIG: space = .pciConfig
        default: return nil
        }
        self.init(
            space: space, address: r.addr, size: Int(r.size),
            direction: r.dir == UInt8(IOREQ_READ) ? .read : .write,
            data: r.data_is_ptr != 0 ? .guestBuffer(r.data) : .value(r.data),
            count: r.count, decrementing: r.df != 0)
    }
}
