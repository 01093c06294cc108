import Foundation
import Testing
@testable import MachineBench

/// The guests the KVM bench carries as bytes are what their nasm sources assemble to.
@Suite("Bench guest images")
struct BenchGuestImagesTests {
    static let guests = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Sources/MachineBench/Guests").standardized

    /// Assembles `name`.asm with nasm into a temporary file; `nil` without nasm.
    func assemble(_ name: String) throws -> [UInt8]? {
        guard let nasm = ["/usr/bin/nasm", "/usr/local/bin/nasm"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            print("SKIP: BenchGuestImagesTests compares with nasm's output: nasm is not installed")
            return nil
        }
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(name)-\(getpid()).bin")
        defer { try? FileManager.default.removeItem(at: output) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: nasm)
        p.arguments = ["-f", "bin", "-o", output.path, Self.guests.appendingPathComponent("\(name).asm").path]
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        return [UInt8](try Data(contentsOf: output))
    }

    @Test("the boot sector's bytes are mbr-marker.asm's, on a disk with the boot signature")
    func bootSector() throws {
        let disk = BenchGuestImages.mbrDisk()
        #expect(disk.count == 1 << 20)
        #expect(disk[510] == 0x55 && disk[511] == 0xAA)
        #expect(String(decoding: disk[0..<512], as: UTF8.self).contains(BenchGuestImages.mbrMarker))
        guard let nasm = try assemble("mbr-marker") else { return }
        #expect(Array(disk[0..<512]) == nasm)
    }

    @Test("the exit-cost firmware is exit-cost.asm's 4 KiB at the end of 64 KiB")
    func exitCostFirmware() throws {
        let image = BenchGuestImages.exitCostFirmware()
        #expect(image.count == 64 << 10)
        #expect(image[..<(60 << 10)].allSatisfy { $0 == 0 })
        guard let nasm = try assemble("exit-cost") else { return }
        #expect(Array(image[(60 << 10)...]) == nasm)
    }
}
