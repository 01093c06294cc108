import DeviceModel

extension PCIAddress {
    /// The core's `.pciConfig` address of `register` in this function's configuration
    /// space: `(SBDF << 32) | register`, the encoding of Xen's `IOREQ_TYPE_PCI_CONFIG` `addr`.
    public func configAddress(register: UInt32) -> UInt64 {
        UInt64(sbdf) << 32 | UInt64(register)
    }
}
