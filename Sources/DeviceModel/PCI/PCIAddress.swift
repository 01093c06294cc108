/// The location of a PCI function: segment, bus, device (slot) and function.
public struct PCIAddress: Sendable, Hashable, CustomStringConvertible {
    /// The PCI segment (domain).
    public let segment: UInt16
    /// The bus number.
    public let bus: UInt8
    /// 0–31.
    public let device: UInt8
    /// 0–7.
    public let function: UInt8

    /// Creates an address; `nil` when `device > 31` or `function > 7`.
    public init?(segment: UInt16 = 0, bus: UInt8 = 0, device: UInt8, function: UInt8 = 0) {
        guard device < 32, function < 8 else { return nil }
        self.segment = segment
        self.bus = bus
        self.device = device
        self.function = function
    }

    /// Decodes `segment << 16 | bus << 8 | device << 3 | function`, as in Xen's ioreq SBDF.
    public init(sbdf: UInt32) {
        segment = UInt16(truncatingIfNeeded: sbdf >> 16)
        bus = UInt8(truncatingIfNeeded: sbdf >> 8)
        device = UInt8(truncatingIfNeeded: sbdf >> 3) & 0x1F
        function = UInt8(truncatingIfNeeded: sbdf) & 0x7
    }

    /// `segment << 16 | bus << 8 | device << 3 | function`.
    public var sbdf: UInt32 {
        UInt32(segment) << 16 | UInt32(bus) << 8 | UInt32(device) << 3 | UInt32(function)
    }

    /// `device << 3 | function`: the index of the function on its bus.
    public var devfn: UInt8 { device << 3 | function }

    public var description: String {
        func hex(_ v: some BinaryInteger, _ width: Int) -> String {
            let s = String(v, radix: 16)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(hex(segment, 4)):\(hex(bus, 2)):\(hex(device, 2)).\(function)"
    }
}
