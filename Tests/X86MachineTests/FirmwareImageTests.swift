import DeviceModel
import Foundation
import Testing

@testable import X86Machine

/// Where a BIOS image goes: ending at 4 GiB, its last 128 KiB copied to end at 1 MiB.
@Suite struct FirmwareImageTests {
    @Test func endsAtFourGiBAndItsTailAtOneMiB() throws {
        let big = try FirmwareImage(bytes: [UInt8](repeating: 0, count: 256 << 10), name: "bios-256k")
        #expect(big.highRange == AddressRange(base: 0xFFFC_0000, length: 256 << 10)!)
        #expect(big.legacyRange == AddressRange(base: 0xE0000, length: 128 << 10)!)
        #expect(big.legacyBytes.count == 128 << 10)
        let small = try FirmwareImage(bytes: [UInt8](repeating: 0, count: 4096), name: "guest")
        #expect(small.highRange == AddressRange(base: 0xFFFF_F000, length: 4096)!)
        #expect(small.legacyRange == AddressRange(base: 0xFF000, length: 4096)!)
        let largest = try FirmwareImage(bytes: [UInt8](repeating: 0, count: FirmwareImage.maximumSize), name: "16m")
        #expect(largest.highRange.base == X86MemoryLayout.firmwareAreaStart)
        #expect(largest.highRange.contains(X86CPUState.resetVector, size: 16))
    }

    @Test func badImagesAreTypedErrorsWithTheValue() throws {
        #expect(throws: FirmwareImageError.empty(name: "empty")) { try FirmwareImage(bytes: [], name: "empty") }
        let tooBig = FirmwareImage.maximumSize + 1
        #expect(throws: FirmwareImageError.tooLarge(name: "huge", size: Int64(tooBig), maximum: 16 << 20)) {
            try FirmwareImage(bytes: [UInt8](repeating: 0, count: tooBig), name: "huge")
        }
        #expect(throws: FirmwareImageError.unreadable(path: "/nonexistent/bios.bin", errno: ENOENT)) {
            try FirmwareImage(path: "/nonexistent/bios.bin")
        }
        #expect(throws: FirmwareImageError.notRegularFile(path: "/")) { try FirmwareImage(path: "/") }
        #expect("\(FirmwareImageError.empty(name: "x.bin"))" == "firmware x.bin: the image is empty")
        #expect("\(FirmwareImageError.tooLarge(name: "h", size: 17 << 20, maximum: 16 << 20))".contains("17825792"))
    }

    @Test func readsAFileAndRefusesAnOversizedOneBeforeReadingIt() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftdm-fw-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("bios.bin").path
        let bytes = (0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        let image = try FirmwareImage(path: path)
        #expect(image.bytes == bytes && image.name == path)

        // A sparse file of 17 MiB: refused from its size, without reading 17 MiB.
        let sparse = dir.appendingPathComponent("huge.bin").path
        #expect(FileManager.default.createFile(atPath: sparse, contents: nil))
        #expect(truncate(sparse, 17 << 20) == 0)
        #expect(throws: FirmwareImageError.tooLarge(name: sparse, size: 17 << 20, maximum: 16 << 20)) {
            try FirmwareImage(path: sparse)
        }
    }

    @Test func tailIsCopiedBelowOneMiB() throws {
        let ram = try MappedGuestMemory.anonymous([(guestBase: 0, length: 1 << 20)])
        var bytes = [UInt8](repeating: 0, count: 256 << 10)
        bytes[(128 << 10)] = 0x5A  // first byte of the last 128 KiB
        bytes[bytes.count - 16] = 0xEA  // reset vector
        let image = try FirmwareImage(bytes: bytes, name: "t")
        try image.writeLegacyCopy(to: ram)
        #expect(try ram.read(UInt8.self, at: 0xE0000) == 0x5A)
        #expect(try ram.read(UInt8.self, at: 0xFFFF0) == 0xEA)
        #expect(try ram.read(UInt8.self, at: 0xDFFFF) == 0, "nothing below the legacy window")
    }

    @Test func copyIntoTooLittleRAMIsATypedError() throws {
        let ram = try MappedGuestMemory.anonymous([(guestBase: 0, length: 512 << 10)])
        let image = try FirmwareImage(bytes: [UInt8](repeating: 1, count: 4096), name: "t")
        #expect(throws: FirmwareImageError.legacyCopyFailed(
            name: "t", range: image.legacyRange, .outOfRange(gpa: 0xFF000, length: 4096))) {
            try image.writeLegacyCopy(to: ram)
        }
    }
}
