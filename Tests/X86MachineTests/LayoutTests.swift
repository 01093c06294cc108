import DeviceModel
import Testing

@testable import X86Machine

@Suite struct LayoutTests {
    @Test(arguments: [UInt64(64) << 20, 512 << 20, 3 << 30, 6 << 30])
    func e820CoversRAMExactly(ram: UInt64) throws {
        let layout = try X86MemoryLayout(ramSize: ram)
        let map = layout.e820Map
        // Sorted and non-overlapping.
        for (a, b) in zip(map.entries, map.entries.dropFirst()) { #expect(a.end <= b.base, "\(a) overlaps \(b)") }
        // RAM: below 640 KiB (minus the EBDA) plus 1 MiB up; the EBDA/BIOS area is reserved.
        #expect(map.total(.ram) == ram - (0x10_0000 - 0x9_FC00))
        #expect(map.entries.first == E820Map.Entry(base: 0, length: 0x9_FC00, type: .ram))
        #expect(map.entries.contains(E820Map.Entry(base: 0x9_FC00, length: 0x6_0400, type: .reserved)))
        #expect(map.entries.contains(E820Map.Entry(base: 0xE000_0000, length: 0x1000_0000, type: .reserved)), "ECAM")
        #expect(map.entries.contains { $0.base == 0xFEC0_0000 && $0.type == .reserved })
        #expect(map.entries.contains { $0.base == 0xFEE0_0000 && $0.type == .reserved })
        // No RAM inside the PCI hole.
        for e in map.entries where e.type == .ram {
            #expect(e.end <= 0xC000_0000 || e.base >= 0x1_0000_0000, "\(e)")
        }
        #expect(map.bytes.count == 20 * map.entries.count)
    }

    @Test func belowAndAboveTheHole() throws {
        let small = try X86MemoryLayout(ramSize: 512 << 20)
        #expect(small.lowRAMSize == 512 << 20)
        #expect(small.highRAMSize == 0)
        #expect(small.ramRegions.count == 1)
        #expect(!small.e820Map.entries.contains { $0.base >= 0x1_0000_0000 })

        let big = try X86MemoryLayout(ramSize: 6 << 30)
        #expect(big.lowRAMSize == 3 << 30)
        #expect(big.highRAMSize == 3 << 30)
        #expect(big.ramRegions.map(\.guestBase) == [0, 0x1_0000_0000])
        #expect(big.e820Map.entries.last == E820Map.Entry(base: 0x1_0000_0000, length: 3 << 30, type: .ram))
        #expect(big.pciMMIO64Window.base == 0x1_C000_0000, "right above high RAM, which ends 1 GiB-aligned at 7 GiB")
        let odd = try X86MemoryLayout(ramSize: (6 << 30) + (4 << 20))
        #expect(odd.pciMMIO64Window.base == 0x2_0000_0000, "rounded up to 1 GiB")

        let lowHole = try X86MemoryLayout(ramSize: 4 << 30, pciHoleStart: 0x8000_0000)
        #expect(lowHole.lowRAMSize == 2 << 30)
        #expect(lowHole.highRAMSize == 2 << 30)
        #expect(lowHole.pciMMIO32Window.base == 0x8000_0000)
        #expect(lowHole.pciMMIO32Window.last == 0xCFFF_FFFF)
        // The byte layout of one e820 record.
        #expect(Array(big.e820Map.bytes.suffix(20)) == [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 0, 0, 0, 0, 1, 0, 0, 0])
    }

    @Test func windowsDoNotOverlap() throws {
        let l = try X86MemoryLayout(ramSize: 6 << 30)
        let windows = [l.pciMMIO32Window, l.virtioMMIOWindow, l.ecam, AddressRange(base: 0xFEC0_0000, length: 0x1000)!,
                       AddressRange(base: 0xFEE0_0000, length: 0x1000)!, l.pciMMIO64Window]
        for (i, a) in windows.enumerated() {
            for b in windows[(i + 1)...] { #expect(!a.overlaps(b), "\(a) overlaps \(b)") }
            for r in l.ramRegions { #expect(!a.overlaps(AddressRange(base: r.guestBase, length: r.length)!)) }
        }
        let slots = l.virtioMMIOSlots
        #expect(slots.count == VirtioMMIOSlot.gsis.count)
        #expect(Set(slots.map(\.gsi)).isDisjoint(with: [1, 4, 8, 9, 16, 17, 18, 19]))
    }

    @Test func invalidLayoutsAreTypedErrors() throws {
        #expect(throws: MemoryLayoutError.ramTooSmall(1 << 20, minimum: 2 << 20)) { try X86MemoryLayout(ramSize: 1 << 20) }
        #expect(throws: MemoryLayoutError.ramNotPageAligned((512 << 20) + 1)) { try X86MemoryLayout(ramSize: (512 << 20) + 1) }
        #expect(throws: MemoryLayoutError.pciHoleStartInvalid(0xE000_0000)) { try X86MemoryLayout(ramSize: 512 << 20, pciHoleStart: 0xE000_0000) }
        #expect(throws: MemoryLayoutError.mmio64SizeInvalid(.max)) { try X86MemoryLayout(ramSize: 512 << 20, mmio64Size: .max) }
        #expect(throws: MemoryLayoutError.self) { try X86MemoryLayout(ramSize: .max) }
        let l = try X86MemoryLayout(ramSize: 512 << 20)
        #expect(throws: MemoryLayoutError.cpuCountInvalid(0, maximum: 254)) { try X86PlatformDescription(layout: l, cpuCount: 0) }
        #expect(throws: MemoryLayoutError.cpuCountInvalid(255, maximum: 254)) { try X86PlatformDescription(layout: l, cpuCount: 255) }
        let outside = VirtioMMIOSlot(index: 0, base: 0x1000, size: 0x1000, gsi: 5)
        #expect(throws: MemoryLayoutError.virtioMMIODeviceOutsideWindow(base: 0x1000, size: 0x1000)) {
            try X86PlatformDescription(layout: l, cpuCount: 1, virtioMMIODevices: [outside])
        }
        let a = VirtioMMIOSlot(index: 0, base: 0xD000_0000, size: 0x2000, gsi: 5)
        let b = VirtioMMIOSlot(index: 1, base: 0xD000_1000, size: 0x1000, gsi: 6)
        #expect(throws: MemoryLayoutError.virtioMMIODevicesOverlap(0xD000_0000, 0xD000_1000)) {
            try X86PlatformDescription(layout: l, cpuCount: 1, virtioMMIODevices: [a, b])
        }
        let c = VirtioMMIOSlot(index: 1, base: 0xD000_2000, size: 0x1000, gsi: 5)
        #expect(throws: MemoryLayoutError.virtioMMIOInterruptInvalid(5)) {
            try X86PlatformDescription(layout: l, cpuCount: 1, virtioMMIODevices: [a, c])
        }
        let d = VirtioMMIOSlot(index: 1, base: 0xD000_2000, size: 0x1000, gsi: 4)
        #expect(throws: MemoryLayoutError.virtioMMIOInterruptInvalid(4)) {
            try X86PlatformDescription(layout: l, cpuCount: 1, virtioMMIODevices: [d])
        }
    }

    @Test func pciRoutingSwizzle() {
        #expect(PCIInterruptRouting.gsi(device: 0, pin: 0) == 16)
        #expect(PCIInterruptRouting.gsi(device: 1, pin: 0) == 17)
        #expect(PCIInterruptRouting.gsi(device: 3, pin: 3) == 18)
        #expect((0..<32).allSatisfy { d in (0..<4).allSatisfy { (16...19).contains(PCIInterruptRouting.gsi(device: UInt8(d), pin: UInt8($0))) } })
    }
}
