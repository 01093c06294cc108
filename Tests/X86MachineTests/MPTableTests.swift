import DeviceModel
import Testing

@testable import X86Machine

@Suite struct MPTableTests {
    @Test(arguments: [1, 2, 16])
    func floatingPointerAndConfigurationTable(cpus: Int) throws {
        let platform = try samplePlatform(cpus: cpus, virtio: 2)
        let mp = MPTable(platform: platform)
        let b = mp.bytes
        #expect(mp.address == 0xF0000)
        #expect(Array(b[0..<4]) == Array("_MP_".utf8))
        #expect(byteSum(b[0..<16]) == 0, "floating pointer checksum")
        #expect(b[8] == 1 && b[9] == 4)
        #expect(UInt64(le(b, 4, UInt32.self)) == mp.configurationTableAddress)

        let c = Array(b[16...])
        #expect(Array(c[0..<4]) == Array("PCMP".utf8))
        let length = Int(le(c, 4, UInt16.self))
        #expect(length == c.count)
        #expect(byteSum(c) == 0, "configuration table checksum")
        #expect(c[6] == 4)
        #expect(le(c, 36, UInt32.self) == 0xFEE0_0000)

        // Walk the entries.
        let count = Int(le(c, 34, UInt16.self))
        var offset = 44
        var processors: [(id: UInt8, flags: UInt8)] = []
        var buses: [String] = []
        var ioapicID: UInt8?
        var isaInterrupts: [UInt8: (pin: UInt8, flags: UInt16)] = [:]
        var pciInterrupts = 0
        var locals = 0
        var lastType: UInt8 = 0
        for _ in 0..<count {
            let type = c[offset]
            #expect(type >= lastType, "entries sorted by type")
            lastType = type
            switch type {
            case 0:
                processors.append((c[offset + 1], c[offset + 3]))
                offset += 20
            case 1:
                buses.append(String(decoding: c[offset + 2..<offset + 8], as: UTF8.self))
                offset += 8
            case 2:
                ioapicID = c[offset + 1]
                #expect(le(c, offset + 4, UInt32.self) == 0xFEC0_0000)
                offset += 8
            case 3:
                let flags: UInt16 = le(c, offset + 2)
                #expect(c[offset + 6] == ioapicID)
                if c[offset + 4] == 1, c[offset + 1] == 0 {
                    isaInterrupts[c[offset + 5]] = (c[offset + 7], flags)
                } else if c[offset + 4] == 0 {
                    pciInterrupts += 1
                    let device = c[offset + 5] >> 2
                    let pin = c[offset + 5] & 3
                    #expect(UInt32(c[offset + 7]) == PCIInterruptRouting.gsi(device: device, pin: pin))
                    #expect(flags == 0x000F)
                }
                offset += 8
            case 4:
                locals += 1
                offset += 8
            default:
                Issue.record("unknown entry type \(type)")
                return
            }
        }
        #expect(offset == length)
        #expect(processors.map(\.id) == (0..<cpus).map { UInt8($0) })
        #expect(processors.first?.flags == 0x03, "BSP enabled")
        #expect(processors.dropFirst().allSatisfy { $0.flags == 0x01 })
        #expect(buses == ["PCI   ", "ISA   "])
        #expect(ioapicID == UInt8(cpus))
        #expect(isaInterrupts[0]?.pin == 2, "IRQ0 on input 2")
        #expect(isaInterrupts[2] == nil)
        #expect(isaInterrupts[4]?.pin == 4)
        #expect(isaInterrupts[9]?.flags == 0x000D)
        for d in platform.virtioMMIODevices { #expect(isaInterrupts[UInt8(d.gsi)]?.flags == 0x000D) }
        #expect(pciInterrupts == 31 * 4)
        #expect(locals == 2)
    }

    @Test func fitsBetweenTheACPITablesAndTheEndOfTheBIOSArea() throws {
        let platform = try samplePlatform(cpus: X86PlatformDescription.maximumCPUCount, virtio: 13)
        let mp = MPTable(platform: platform)
        #expect(mp.address + UInt64(mp.bytes.count) <= 0x10_0000)
        let acpi = try ACPITables(platform: platform)
        #expect(acpi.baseAddress + UInt64(acpi.image.count) <= mp.address)
        let memory = try MappedGuestMemory.anonymous([(0, 2 << 20)])
        try mp.write(to: memory)
        #expect(try memory.readBytes(at: 0xF0000, count: 4) == Array("_MP_".utf8))
    }
}
