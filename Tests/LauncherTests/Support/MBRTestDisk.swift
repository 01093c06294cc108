import Foundation
import SwiftdmTestSupport

/// A 1 MiB raw disk for SeaBIOS boots: the `mbr` test guest's boot sector, then 64 sectors of
/// seeded random bytes, which the boot sector reads through int 13h and sums.
struct MBRTestDisk {
    let path: String
    /// The sum of the 64 sectors as little-endian 32-bit words, as the MBR prints it (8 hex digits).
    let checksum: String

    init(name: String) throws {
        let mbr = try GuestImages.image("mbr")
        var generator = SplitMix64(seed: 42)
        let payload = (0..<(64 * 512)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        var image = mbr + payload
        image += [UInt8](repeating: 0, count: (1 << 20) - image.count)
        var sum: UInt32 = 0
        for i in stride(from: 0, to: payload.count, by: 4) {
            sum &+= UInt32(payload[i]) | UInt32(payload[i + 1]) << 8 | UInt32(payload[i + 2]) << 16 | UInt32(payload[i + 3]) << 24
        }
        path = GuestImages.buildDirectory.appendingPathComponent("\(name)-\(getpid()).img").path
        try Data(image).write(to: URL(fileURLWithPath: path))
        checksum = String(sum, radix: 16, uppercase: true).leftPadded(8)
    }
}
