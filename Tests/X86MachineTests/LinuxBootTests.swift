import DeviceModel
import Foundation
import Testing

@testable import X86Machine

@Suite struct LinuxBootTests {
    @Test func parsesSetupHeader() throws {
        let image = FakeBzImage().bytes
        let h = try LinuxSetupHeader(image: image)
        #expect(h.version == 0x020F)
        #expect(h.setupSectors == 4)
        #expect(h.protectedModeOffset == 5 * 512)
        #expect(h.has64BitEntry)
        #expect(h.relocatable)
        #expect(h.kernelAlignment == 0x20_0000)
        #expect(h.commandLineSize == 2047)
        #expect(h.initSize == 0x100_0000)
        #expect(h.preferredAddress == 0x100_0000)
        #expect(h.rawBytes.count == 0x26C - 0x1F1)
        #expect(h.kernelVersionString(in: image) == "6.1.0-fake")
    }

    @Test func setupSectorsZeroMeansFour() throws {
        var f = FakeBzImage()
        f.setupSectors = 0
        #expect(try LinuxSetupHeader(image: f.bytes).setupSectors == 4)
    }

    @Test func rejectsBadImagesWithTypedErrors() {
        var f = FakeBzImage()
        f.magic = Array("HdrX".utf8)
        #expect(throws: LinuxBootError.missingHeaderMagic(0x5872_6448)) { try LinuxKernelImage(bytes: f.bytes) }

        f = FakeBzImage()
        f.bootFlag = 0x1234
        #expect(throws: LinuxBootError.badBootFlag(0x1234)) { try LinuxKernelImage(bytes: f.bytes) }

        f = FakeBzImage()
        f.version = 0x0205
        #expect(throws: LinuxBootError.protocolTooOld(version: 0x0205, minimum: 0x0206)) { try LinuxKernelImage(bytes: f.bytes) }

        f = FakeBzImage()
        f.loadFlags = 0
        #expect(throws: LinuxBootError.notBzImage(loadFlags: 0)) { try LinuxKernelImage(bytes: f.bytes) }

        f = FakeBzImage()
        f.xloadflags = 0
        #expect(throws: LinuxBootError.no64BitEntry(version: 0x020F, xloadflags: 0)) { try LinuxKernelImage(bytes: f.bytes) }

        f = FakeBzImage()
        f.setupSectors = 40
        f.payload = []
        let short = Array(f.bytes.prefix(0x400))
        #expect(throws: LinuxBootError.truncatedKernel(setupBytes: 41 * 512, fileSize: 0x400)) { try LinuxKernelImage(bytes: short) }

        #expect(throws: LinuxBootError.imageTooSmall(size: 100)) { try LinuxKernelImage(bytes: [UInt8](repeating: 0, count: 100)) }
        #expect(throws: LinuxBootError.self) { try LinuxKernelImage(bytes: []) }
        let e = LinuxBootError.protocolTooOld(version: 0x0205, minimum: 0x0206)
        #expect(e.description.contains("2.05") && e.description.contains("2.06"))
    }

    @Test func randomBytesNeverTrap() {
        var generator = SystemRandomNumberGenerator()
        let base = FakeBzImage().bytes
        for _ in 0..<2000 {
            var b = base
            for _ in 0..<8 { b[Int.random(in: 0x1F0..<0x270, using: &generator)] = UInt8.random(in: 0...255, using: &generator) }
            let cut = Int.random(in: 0...b.count, using: &generator)
            _ = try? LinuxKernelImage(bytes: Array(b.prefix(cut)))
        }
    }

    @Test func missingFileIsATypedError() {
        #expect(throws: LinuxBootError.fileUnreadable(path: "/nonexistent/vmlinuz", errno: ENOENT)) {
            try LinuxKernelImage(path: "/nonexistent/vmlinuz")
        }
    }

    @Test func loadsKernelCommandLineInitrdAndZeroPage() throws {
        let layout = try X86MemoryLayout(ramSize: 256 << 20)
        let memory = try MappedGuestMemory.anonymous(layout.ramRegions)
        let fake = FakeBzImage()
        let kernel = try LinuxKernelImage(bytes: fake.bytes)
        let initrd = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 * 13) }
        let info = try LinuxLoader.load(
            kernel: kernel, initrd: initrd, commandLine: "console=ttyS0 panic=-1", layout: layout,
            acpiRSDPAddress: 0xE0000, into: memory)

        #expect(info.entryPoint64 == 0x10_0200)
        #expect(info.bootParamsAddress == 0x7000)
        #expect(try memory.readBytes(at: 0x10_0000, count: fake.payload.count) == fake.payload)
        #expect(try memory.readBytes(at: 0x2_0000, count: 23) == Array("console=ttyS0 panic=-1\0".utf8))

        let initrdAddress = try #require(info.initrdAddress)
        #expect(initrdAddress % 4096 == 0)
        #expect(initrdAddress + UInt64(initrd.count) <= layout.lowRAMEnd)
        #expect(initrdAddress >= 0x200_0000, "above the kernel's init_size range")
        #expect(try memory.readBytes(at: initrdAddress, count: initrd.count) == initrd)

        // The zero page as the kernel reads it.
        let zp = try memory.readBytes(at: 0x7000, count: 4096)
        let r = try #require(BootParams(bytes: zp))
        #expect(r.field(UInt16.self, at: 0x1FE) == 0xAA55)
        #expect(r.field(UInt32.self, at: 0x202) == 0x5372_6448)
        #expect(r.field(UInt8.self, at: 0x210) == 0xFF, "type_of_loader")
        #expect(r.field(UInt16.self, at: 0x1FA) == 0xFFFF, "vid_mode")
        #expect(r.field(UInt32.self, at: 0x228) == 0x2_0000, "cmd_line_ptr")
        #expect(r.field(UInt32.self, at: 0x218) == UInt32(initrdAddress))
        #expect(r.field(UInt32.self, at: 0x21C) == UInt32(initrd.count))
        #expect(r.field(UInt64.self, at: 0x070) == 0xE0000, "acpi_rsdp_addr")
        let entries = Int(r.field(UInt8.self, at: 0x1E8) ?? 0)
        #expect(entries == layout.e820Map.entries.count)
        #expect(Array(zp[0x2D0..<0x2D0 + 20 * entries]) == layout.e820Map.bytes)
        #expect(info.identityMapEnd >= initrdAddress + UInt64(initrd.count))
    }

    @Test func refusesCommandLinesAndImagesThatDoNotFit() throws {
        let layout = try X86MemoryLayout(ramSize: 256 << 20)
        let memory = try MappedGuestMemory.anonymous(layout.ramRegions)
        var f = FakeBzImage()
        f.commandLineSize = 16
        let kernel = try LinuxKernelImage(bytes: f.bytes)
        #expect(throws: LinuxBootError.commandLineTooLong(length: 17, maximum: 16)) {
            try LinuxLoader.load(kernel: kernel, initrd: nil, commandLine: String(repeating: "x", count: 17), layout: layout, acpiRSDPAddress: nil, into: memory)
        }
        #expect(throws: LinuxBootError.commandLineContainsNUL) {
            try LinuxLoader.load(kernel: kernel, initrd: nil, commandLine: "a\0b", layout: layout, acpiRSDPAddress: nil, into: memory)
        }

        f = FakeBzImage()
        f.initSize = 0x1000_0000  // 256 MiB from 16 MiB
        #expect(throws: LinuxBootError.kernelDoesNotFit(end: 0x1100_0000, ramEnd: 0x1000_0000)) {
            try LinuxLoader.load(kernel: try LinuxKernelImage(bytes: f.bytes), initrd: nil, commandLine: "", layout: layout, acpiRSDPAddress: nil, into: memory)
        }

        f = FakeBzImage()
        f.initrdAddressMax = 0x0200_0FFF  // just above the kernel's 16+16 MiB
        #expect(throws: LinuxBootError.initrdDoesNotFit(size: 0x2000, lowest: 0x200_0000, highest: 0x200_1000)) {
            try LinuxLoader.load(kernel: try LinuxKernelImage(bytes: f.bytes), initrd: [UInt8](repeating: 1, count: 0x2000), commandLine: "", layout: layout, acpiRSDPAddress: nil, into: memory)
        }
    }

    @Test(.enabled(if: DebianKernel.shared.path != nil, "SKIP: no Debian kernel (see the SKIP: line)"))
    func realDebianKernel() throws {
        let path = try #require(DebianKernel.shared.path)
        let kernel = try LinuxKernelImage(path: path)
        let h = kernel.header
        #expect(h.version >= 0x020C)
        #expect(h.has64BitEntry)
        #expect(h.relocatable)
        #expect(h.loadFlags & LinuxSetupHeader.loadedHigh != 0)
        #expect(h.kernelAlignment >= 0x20_0000)
        #expect(h.commandLineSize >= 255)
        #expect(h.initSize > 0)
        #expect(kernel.versionString?.hasPrefix("6.") == true || kernel.versionString?.first?.isNumber == true)
        // syssize (16-byte paragraphs) is the protected-mode part; signed kernels append a signature.
        #expect(Int(h.sysSize) * 16 <= kernel.protectedModeKernel.count)
        #expect(Int(h.sysSize) * 16 >= kernel.protectedModeKernel.count - 64 * 1024)

        let layout = try X86MemoryLayout(ramSize: 512 << 20)
        let memory = try MappedGuestMemory.anonymous(layout.ramRegions)
        let info = try LinuxLoader.load(
            kernel: kernel, initrd: [UInt8](repeating: 0x5A, count: 1 << 20), commandLine: "console=ttyS0",
            layout: layout, acpiRSDPAddress: 0xE0000, into: memory)
        #expect(try memory.readBytes(at: info.kernelLoadAddress, count: 4096) == Array(kernel.protectedModeKernel.prefix(4096)))
        #expect(info.identityMapEnd <= layout.lowRAMEnd)
        #expect(info.initrdAddress.map { $0 >= 0x100_0000 + UInt64(h.initSize) } == true)
    }
}

