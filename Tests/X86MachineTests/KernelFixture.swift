import Foundation
import Testing

/// A synthetic bzImage: a setup header with the given fields and `payload` as the
/// protected-mode kernel.
struct FakeBzImage {
    var setupSectors: UInt8 = 4
    var version: UInt16 = 0x020F
    var loadFlags: UInt8 = 0x01
    var xloadflags: UInt16 = 0x0003
    var commandLineSize: UInt32 = 2047
    var initrdAddressMax: UInt32 = 0x7FFF_FFFF
    var kernelAlignment: UInt32 = 0x20_0000
    var relocatable: UInt8 = 1
    var preferredAddress: UInt64 = 0x100_0000
    var initSize: UInt32 = 0x100_0000
    var bootFlag: UInt16 = 0xAA55
    var magic: [UInt8] = Array("HdrS".utf8)
    var payload: [UInt8] = (0..<0x3000).map { UInt8(truncatingIfNeeded: $0 &* 7) }

    var bytes: [UInt8] {
        var b = [UInt8](repeating: 0, count: (Int(setupSectors == 0 ? 4 : setupSectors) + 1) * 512)
        func put(_ v: UInt64, _ offset: Int, _ width: Int) {
            for i in 0..<width { b[offset + i] = UInt8(truncatingIfNeeded: v >> UInt64(8 * i)) }
        }
        b[0x1F1] = setupSectors
        put(UInt64(bootFlag), 0x1FE, 2)
        b[0x200] = 0xEB
        b[0x201] = 0x6A  // header ends at 0x26C
        b.replaceSubrange(0x202..<0x206, with: magic)
        put(UInt64(version), 0x206, 2)
        put(0x100, 0x20E, 2)  // kernel_version string at 0x300
        b.replaceSubrange(0x300..<0x30B, with: Array("6.1.0-fake\0".utf8))
        b[0x211] = loadFlags
        put(0x10_0000, 0x214, 4)
        put(UInt64(initrdAddressMax), 0x22C, 4)
        put(UInt64(kernelAlignment), 0x230, 4)
        b[0x234] = relocatable
        b[0x235] = 21
        put(UInt64(xloadflags), 0x236, 2)
        put(UInt64(commandLineSize), 0x238, 4)
        put(preferredAddress, 0x258, 8)
        put(UInt64(initSize), 0x260, 4)
        return b + payload
    }
}

/// Finds a real Debian kernel for the tests: `$SWIFTDM_TEST_KERNEL`, a cached extraction, or
/// `apt-get download` of the cloud kernel package extracted with `dpkg-deb`. Returns nil (and
/// the reason) when none can be had.
enum DebianKernel {
    /// Located once per test run; prints a `SKIP:` line when there is no kernel.
    static let shared: (path: String?, reason: String) = {
        let found = locate()
        if found.path == nil { print("SKIP: real Debian kernel tests: \(found.reason)") }
        return found
    }()

    static let cacheDirectory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("swiftdm-test-kernel")

    static func locate() -> (path: String?, reason: String) {
        if let p = ProcessInfo.processInfo.environment["SWIFTDM_TEST_KERNEL"], FileManager.default.fileExists(atPath: p) {
            return (p, "")
        }
        if let cached = cachedKernel() { return (cached, "") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/apt-get"),
            FileManager.default.isExecutableFile(atPath: "/usr/bin/dpkg-deb")
        else { return (nil, "apt-get/dpkg-deb not available to fetch a Debian kernel") }
        let dir = cacheDirectory.path
        let script = """
            set -e
            mkdir -p '\(dir)/deb'
            cd '\(dir)/deb'
            pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/{print $2; exit}')
            [ -n "$pkg" ]
            apt-get download -q "$pkg" >/dev/null 2>&1
            dpkg-deb --fsys-tarfile "$pkg"_*.deb | tar -x -C '\(dir)' --wildcards './boot/vmlinuz-*'
            rm -f "$pkg"_*.deb
            """
        let status = run("/bin/sh", ["-c", script])
        if let cached = cachedKernel() { return (cached, "") }
        return (nil, "could not download linux-image-cloud-amd64 (apt-get exit status \(status))")
    }

    private static func cachedKernel() -> String? {
        let boot = cacheDirectory.appendingPathComponent("boot")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: boot.path)) ?? []
        return names.filter { $0.hasPrefix("vmlinuz-") }.sorted().last.map { boot.appendingPathComponent($0).path }
    }

    @discardableResult
    static func run(_ tool: String, _ arguments: [String]) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return -1 }
        p.waitUntilExit()
        return p.terminationStatus
    }
}
