/// The Differentiated System Description Table: AML describing what the guest cannot probe.
///
/// ```
/// Scope (\_SB) {
///     Device (C000) … one ACPI0007 processor device per vCPU
///     Device (PCI0) { PNP0A08/PNP0A03, _SEG 0, _BBN 0, _CRS: buses 0–255, conf1 ports,
///                     I/O 0–0xCF7 and 0xD00–0xFFFF, the 32- and 64-bit BAR windows; _PRT }
///     Device (MRES) { PNP0C02, _CRS: the ECAM window (so Linux accepts MCFG) }
///     Device (COM1) { PNP0501, _CRS: 0x3F8–0x3FF, IRQ 4 }
///     Device (PEVT) { QEMU0001, _CRS: 0x505 }   // pvpanic
///     Device (VR00) … one LNRO0005 per virtio-mmio device: Memory32Fixed + Interrupt
/// }
/// Name (\_S5, Package () { 0, 0, 0, 0 })   // SLP_TYP for soft off
/// ```
enum DSDT {
    static func make(platform: X86PlatformDescription) -> [UInt8] {
        var devices: [[UInt8]] = []
        for cpu in 0..<platform.cpuCount { devices.append(processor(cpu)) }
        devices.append(pciHostBridge(platform.layout))
        devices.append(motherboardResources(platform.layout))
        devices.append(serialPort())
        devices.append(panicNotifier())
        for d in platform.virtioMMIODevices.sorted(by: { $0.index < $1.index }) { devices.append(virtioMMIO(d)) }

        let s5 = UInt64(ACPIPowerManagement.softOffSleepType)
        // The table body is at the root scope, so "_SB" and "_S5" are root names (and the
        // shortest encoding, the one iasl emits too).
        let body = AML.scope("_SB", devices)
            + AML.name("_S5", AML.package([AML.integer(s5), AML.integer(s5), AML.integer(0), AML.integer(0)]))
        return SystemDescriptionTable.make(signature: "DSDT", revision: 2, body: body)
    }

    static func processor(_ cpu: Int) -> [UInt8] {
        AML.device(String(format4Hex: "C", cpu), [
            AML.name("_HID", AML.string("ACPI0007")),
            AML.name("_UID", AML.integer(UInt64(cpu))),
        ])
    }

    static func pciHostBridge(_ layout: X86MemoryLayout) -> [UInt8] {
        var crs = ResourceTemplate()
        crs.wordBusNumber(minimum: 0, maximum: UInt16(X86MemoryLayout.ecamBusCount - 1))
        crs.io(minimum: 0x0CF8, maximum: 0x0CF8, alignment: 1, length: 8)
        crs.wordIO(minimum: 0x0000, maximum: 0x0CF7)
        crs.wordIO(minimum: 0x0D00, maximum: 0xFFFF)
        let w32 = layout.pciMMIO32Window
        crs.dwordMemory(minimum: UInt32(w32.base), maximum: UInt32(w32.last), cacheability: .nonCacheable)
        let w64 = layout.pciMMIO64Window
        crs.qwordMemory(minimum: w64.base, maximum: w64.last, cacheability: .prefetchable)

        // _PRT: every device's INTA–D, straight to IOAPIC inputs (source Zero = GSI in the index).
        var prt: [[UInt8]] = []
        for device in UInt8(0)..<32 {
            for pin in UInt8(0)..<4 {
                prt.append(AML.package([
                    AML.integer(UInt64(device) << 16 | 0xFFFF),
                    AML.integer(UInt64(pin)),
                    AML.integer(0),
                    AML.integer(UInt64(PCIInterruptRouting.gsi(device: device, pin: pin))),
                ]))
            }
        }

        return AML.device("PCI0", [
            AML.name("_HID", AML.eisaID("PNP0A08")),
            AML.name("_CID", AML.eisaID("PNP0A03")),
            AML.name("_SEG", AML.integer(0)),
            AML.name("_BBN", AML.integer(0)),
            AML.name("_UID", AML.integer(0)),
            AML.name("_CRS", AML.resourceTemplate(crs)),
            AML.name("_PRT", AML.package(prt)),
        ])
    }

    static func motherboardResources(_ layout: X86MemoryLayout) -> [UInt8] {
        var crs = ResourceTemplate()
        crs.memory32Fixed(base: UInt32(layout.ecam.base), length: UInt32(layout.ecam.length))
        return AML.device("MRES", [
            AML.name("_HID", AML.eisaID("PNP0C02")),
            AML.name("_UID", AML.integer(0)),
            AML.name("_CRS", AML.resourceTemplate(crs)),
        ])
    }

    static func serialPort() -> [UInt8] {
        var crs = ResourceTemplate()
        let base = UInt16(X86LegacyDevices.com1Base)
        crs.io(minimum: base, maximum: base, alignment: 0, length: UInt8(UART16550.portCount))
        crs.irqNoFlags([UInt8(X86LegacyDevices.com1IRQ)])
        return AML.device("COM1", [
            AML.name("_HID", AML.eisaID("PNP0501")),
            AML.name("_UID", AML.integer(1)),
            AML.name("_CRS", AML.resourceTemplate(crs)),
        ])
    }

    /// QEMU's pvpanic device, as QEMU's own DSDT has it (`hw/misc/pvpanic-isa.c`).
    static func panicNotifier() -> [UInt8] {
        var crs = ResourceTemplate()
        let port = UInt16(PVPanicPort.portAddress)
        crs.io(minimum: port, maximum: port, alignment: 1, length: 1)
        return AML.device("PEVT", [
            AML.name("_HID", AML.string(PVPanicPort.acpiHardwareID)),
            AML.name("_UID", AML.integer(0)),
            AML.name("_CRS", AML.resourceTemplate(crs)),
        ])
    }

    static func virtioMMIO(_ d: VirtioMMIOSlot) -> [UInt8] {
        var crs = ResourceTemplate()
        crs.memory32Fixed(base: UInt32(d.base), length: UInt32(d.size))
        crs.interrupt([d.gsi], levelTriggered: true, activeLow: false)
        return AML.device(String(format4Hex: "VR", d.index), [
            AML.name("_HID", AML.string("LNRO0005")),
            AML.name("_UID", AML.integer(UInt64(d.index))),
            AML.name("_CRS", AML.resourceTemplate(crs)),
        ])
    }
}

extension String {
    /// A NameSeg `prefix` followed by `index` in upper-case hex, 4 characters in total
    /// ("C000", "VR0A").
    init(format4Hex prefix: String, _ index: Int) {
        let digits = 4 - prefix.count
        let hex = String(index, radix: 16, uppercase: true)
        precondition(hex.count <= digits, "index \(index) does not fit a NameSeg after \(prefix)")
        self = prefix + String(repeating: "0", count: digits - hex.count) + hex
    }
}
