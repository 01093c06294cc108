/// An ECAM (MMCONFIG) window: configuration space of buses `0..<busCount` mapped at `base`,
/// 1 MiB per bus, address `base + (bus << 20 | device << 15 | function << 12 | register)`
/// (PCI Express Base 4.0 §7.2.2). This is what the ACPI MCFG table describes.
public struct PCIECAMWindow: Sendable, Hashable, CustomStringConvertible {
    /// The address of bus 0, device 0, function 0, register 0.
    public let base: UInt64
    /// 1–256 buses, starting at bus 0.
    public let busCount: Int

    /// Creates a window; `base` must be 1 MiB aligned and the window must not wrap.
    public init(base: UInt64, busCount: Int = 256) throws(PCIError) {
        guard (1...256).contains(busCount), base & 0xF_FFFF == 0,
            AddressRange(base: base, length: UInt64(busCount) << 20) != nil
        else { throw .invalidECAMWindow(base: base, busCount: busCount) }
        self.base = base
        self.busCount = busCount
    }

    /// `busCount` MiB.
    public var length: UInt64 { UInt64(busCount) << 20 }

    public var description: String {
        "ECAM buses 0-\(busCount - 1) at 0x\(String(base, radix: 16))"
    }
}
