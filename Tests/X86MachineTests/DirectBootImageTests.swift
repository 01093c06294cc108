import DeviceModel
import Testing

@testable import X86Machine

/// Everything a direct Linux boot puts into guest RAM, read back the way a kernel finds it.
@Suite struct DirectBootImageTests {
    @Test func kernelFindsTablesWhereItLooks() throws {
        let layout = try X86MemoryLayout(ramSize: 512 << 20)
        let platform = try X86PlatformDescription(layout: layout, cpuCount: 2, virtioMMIODevices: Array(layout.virtioMMIOSlots.prefix(3)))
        let memory = try MappedGuestMemory.anonymous(layout.ramRegions)
        let tables = try FirmwareTables(platform: platform)
        try tables.write(to: memory)
        let info = try LinuxLoader.load(
            kernel: try LinuxKernelImage(bytes: FakeBzImage().bytes), initrd: [1, 2, 3], commandLine: "console=ttyS0",
            layout: layout, acpiRSDPAddress: tables.rsdpAddress, into: memory)

        // Linux's RSDP scan: 16-byte steps over 0xE0000–0xFFFFF, signature and checksum.
        let bios = try memory.readBytes(at: 0xE0000, count: 0x20000)
        let rsdpOffsets = stride(from: 0, to: bios.count - 36, by: 16).filter {
            Array(bios[$0..<$0 + 8]) == Array("RSD PTR ".utf8) && byteSum(bios[$0..<$0 + 20]) == 0
        }
        #expect(rsdpOffsets == [0])
        // The MP floating pointer scan of the same area.
        let mpOffsets = stride(from: 0, to: bios.count - 16, by: 16).filter {
            Array(bios[$0..<$0 + 4]) == Array("_MP_".utf8) && byteSum(bios[$0..<$0 + 16]) == 0
        }
        #expect(mpOffsets == [0x10000])
        // Follow RSDP → XSDT → FADT → DSDT in guest memory.
        let xsdtAddress: UInt64 = le(bios, 24)
        let xsdtLength = Int(try memory.read(UInt32.self, at: xsdtAddress + 4))
        let xsdt = try memory.readBytes(at: xsdtAddress, count: xsdtLength)
        #expect(byteSum(xsdt) == 0)
        let fadtAddress: UInt64 = le(xsdt, 36)
        #expect(try memory.readBytes(at: fadtAddress, count: 4) == Array("FACP".utf8))
        let dsdtAddress = try memory.read(UInt64.self, at: fadtAddress + 140)
        #expect(try memory.readBytes(at: dsdtAddress, count: 4) == Array("DSDT".utf8))

        // The tables sit in e820-reserved memory that nothing else was loaded into.
        let map = layout.e820Map
        let tableEnd = tables.mp.address + UInt64(tables.mp.bytes.count)
        #expect(map.entries.contains { $0.type == .reserved && $0.base <= 0xE0000 && $0.end >= tableEnd })
        let loaded: [(UInt64, UInt64)] = [
            (info.bootParamsAddress, 4096), (info.commandLineAddress, 14), (info.kernelLoadAddress, UInt64(info.kernelSize)),
            (try #require(info.initrdAddress), 3),
        ]
        for (base, length) in loaded {
            #expect(base + length <= 0xE0000 || base >= tableEnd, "0x\(String(base, radix: 16)) overlaps the tables")
            #expect(map.entries.contains { $0.type == .ram && $0.base <= base && $0.end >= base + length }, "0x\(String(base, radix: 16)) is RAM")
        }
        #expect(try memory.read(UInt64.self, at: info.bootParamsAddress + 0x70) == 0xE0000)
    }
}
