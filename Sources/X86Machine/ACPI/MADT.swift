/// The Multiple APIC Description Table (ACPI 6.5 §5.2.12): one enabled local APIC per vCPU
/// (processor UID = APIC ID = vCPU index), the IOAPIC with GSIs from 0, interrupt source
/// overrides for IRQ 0 → GSI 2 and for the level-triggered, active-high ISA lines (SCI and the
/// virtio-mmio interrupts below 16), and LINT1 as NMI on every processor.
enum MADT {
    /// MPS INTI flags: polarity bits 1:0, trigger mode bits 3:2 (ACPI 6.5 table 5.26).
    static let conforming: UInt16 = 0x0000
    static let activeHighLevel: UInt16 = 0x0001 | 0x000C

    static func make(platform: X86PlatformDescription) -> [UInt8] {
        var w = LittleEndianWriter()
        w.u32(UInt32(X86MemoryLayout.localAPICAddress))
        w.u32(1)  // PCAT_COMPAT: dual 8259s present
        for cpu in 0..<platform.cpuCount {
            w.u8(0)  // Processor Local APIC
            w.u8(8)
            w.u8(UInt8(cpu))  // ACPI processor UID
            w.u8(UInt8(cpu))  // APIC ID
            w.u32(1)  // enabled
        }
        w.u8(1)  // I/O APIC
        w.u8(12)
        w.u8(platform.ioapicID)
        w.u8(0)
        w.u32(UInt32(X86MemoryLayout.ioapicAddress))
        w.u32(0)  // GSI base
        for (irq, gsi, flags) in interruptOverrides(platform) {
            w.u8(2)  // Interrupt Source Override
            w.u8(10)
            w.u8(0)  // bus: ISA
            w.u8(irq)
            w.u32(gsi)
            w.u16(flags)
        }
        w.u8(4)  // Local APIC NMI
        w.u8(6)
        w.u8(0xFF)  // all processors
        w.u16(conforming)
        w.u8(1)  // LINT1
        return SystemDescriptionTable.make(signature: "APIC", revision: 5, body: w.bytes)
    }

    /// (ISA IRQ, GSI, flags) overrides.
    static func interruptOverrides(_ platform: X86PlatformDescription) -> [(UInt8, UInt32, UInt16)] {
        var overrides: [(UInt8, UInt32, UInt16)] = [(0, 2, conforming), (ACPIPowerManagement.sciInterrupt, UInt32(ACPIPowerManagement.sciInterrupt), activeHighLevel)]
        for d in platform.virtioMMIODevices.sorted(by: { $0.gsi < $1.gsi }) where d.gsi < 16 {
            overrides.append((UInt8(d.gsi), d.gsi, activeHighLevel))
        }
        return overrides
    }
}
