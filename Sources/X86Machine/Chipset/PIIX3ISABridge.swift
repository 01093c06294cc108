import DeviceModel

/// Function 0 of an Intel 82371SB (PIIX3) south bridge: the PCI-to-ISA bridge, 8086:7000,
/// class 06 01 00, as QEMU's `pc`/`xenfv` machines put it at 00:01.0.
///
/// Firmware finds it by identity: Xen's hvmloader asserts that whatever sits at devfn 0x08 is
/// a PIIX3 and writes its PCI interrupt routes into the PIRQ route control registers
/// (0x60–0x63, one per link A–D: bits 3:0 the ISA IRQ, bit 7 disables the link). Each change
/// of a link's route is reported to `linkRouteChanged` (the hypervisor's virtual PIC needs it:
/// on Xen, `xendevicemodel_set_pci_link_route`), with IRQ 0 for a disabled link, as QEMU's
/// `xen_piix_pci_write_config_client` does.
public final class PIIX3ISABridge: PCIConfigHooks {
    /// 00:01.0.
    public static let device: UInt8 = 1
    /// Intel 82371SB PIIX3 ISA.
    public static let vendorID: UInt16 = 0x8086
    public static let deviceID: UInt16 = 0x7000
    /// 06 01 00: ISA bridge.
    public static let classCode = PCIClassCode(baseClass: 0x06, subclass: 0x01)
    /// PIRQRC[A:D].
    public static let pirqRouteRegisters = 0x60..<0x64
    /// Reset value of each route register: routing disabled.
    static let routeDisabled: UInt8 = 0x80

    public let configSpace: PCIConfigSpace
    private let linkRouteChanged: @Sendable (_ link: UInt8, _ irq: UInt8) -> Void

    /// - Parameter linkRouteChanged: called on the accessing thread after a guest write to a
    ///   route register, once per link written, with the ISA IRQ (0 when disabled or when the
    ///   IRQ field names no usable line).
    public init(linkRouteChanged: @escaping @Sendable (_ link: UInt8, _ irq: UInt8) -> Void) {
        configSpace = PCIConfigSpace(vendorID: Self.vendorID, deviceID: Self.deviceID, classCode: Self.classCode)
        // QEMU's PIIX3 is multi-function (IDE, USB and PM follow); this one is alone.
        for r in Self.pirqRouteRegisters {
            configSpace.store(UInt32(Self.routeDisabled), at: r, size: 1)
            configSpace.setWritableMask(0x8F, at: r, size: 1)
        }
        self.linkRouteChanged = linkRouteChanged
    }

    /// The bridge has no BARs; never called by the bus.
    public func readBAR(_ bar: Int, offset: UInt64, size: Int) -> UInt64 { IORequest.mask(forSize: size) }
    /// The bridge has no BARs; never called by the bus.
    public func writeBAR(_ bar: Int, offset: UInt64, size: Int, value: UInt64) {}
    public func configRead(at offset: Int, size: Int) -> UInt32? { nil }

    public func configWritten(at offset: Int, size: Int, value: UInt32) {
        for register in offset..<offset + size where Self.pirqRouteRegisters.contains(register) {
            linkRouteChanged(UInt8(register - Self.pirqRouteRegisters.lowerBound), irq(forLink: register - Self.pirqRouteRegisters.lowerBound))
        }
    }

    /// The ISA IRQ link `link` (0–3) is routed to, 0 when disabled.
    public func irq(forLink link: Int) -> UInt8 {
        let route = UInt8(truncatingIfNeeded: configSpace.read(at: Self.pirqRouteRegisters.lowerBound + link, size: 1))
        return route & 0x80 != 0 ? 0 : route & 0x0F
    }
}
