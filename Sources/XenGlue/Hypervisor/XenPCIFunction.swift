/// A PCI function by segment, bus, device and function — the unit Xen routes PCI
/// configuration cycles by (`XEN_DMOP_IO_RANGE_PCI`).
public struct XenPCIFunction: Sendable, Hashable, CustomStringConvertible {
    public var segment: UInt16
    public var bus: UInt8
    /// Device number, 0–31.
    public var device: UInt8
    /// Function number, 0–7.
    public var function: UInt8

    /// Creates an address; `nil` when `device` > 31 or `function` > 7.
    public init?(segment: UInt16 = 0, bus: UInt8, device: UInt8, function: UInt8) {
        guard device < 32, function < 8 else { return nil }
        self.segment = segment
        self.bus = bus
        self.device = device
        self.function = function
    }

    /// Decodes a 32-bit SBDF: segment in bits 31–16, bus 15–8, device 7–3, function 2–0.
    public init(sbdf: UInt32) {
        segment = UInt16(truncatingIfNeeded: sbdf >> 16)
        bus = UInt8(truncatingIfNeeded: sbdf >> 8)
        device = UInt8(truncatingIfNeeded: sbdf >> 3) & 0x1f
        function = UInt8(truncatingIfNeeded: sbdf) & 0x7
    }

    /// The 32-bit SBDF (`pci_sbdf_t.sbdf`), as in the high half of a PCI-config `ioreq_t.addr`.
    public var sbdf: UInt32 {
        UInt32(segment) << 16 | UInt32(bus) << 8 | UInt32(device) << 3 | UInt32(function)
    }

    /// The core's `.pciConfig` address of `register` in this function's configuration
    /// space: `(SBDF << 32) | register`, the same encoding as Xen's `IOREQ_TYPE_PCI_CONFIG`.
    public func configAddress(register: UInt32) -> UInt64 {
        UInt64(sbdf) << 32 | UInt64(register)
    }

    public var description: String {
        let hex = { (v: UInt64, w: Int) -> String in
            let s = String(v, radix: 16)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        return "\(hex(UInt64(segment), 4)):\(hex(UInt64(bus), 2)):\(hex(UInt64(device), 2)).\(function)"
    }
}
