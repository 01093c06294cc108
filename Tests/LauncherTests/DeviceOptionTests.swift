import Foundation
import SwiftdmTestSupport
import Testing

/// `swiftdm run`, `swiftdm vhost-user` and `swiftdm xen` parse device options with the one
/// parser of the machine library: they accept and refuse the same spellings.
@Suite(.enabled(if: SwiftdmExecutable.path != nil, "needs the swiftdm executable (see the SKIP line)"))
struct DeviceOptionTests {
    static let image: String = {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sdm-opts-\(getpid()).img").path
        _ = FileManager.default.createFile(atPath: path, contents: Data(count: 4096))
        return path
    }()

    /// Disk options after the path, and whether they are valid.
    static let diskOptions: [(String, Bool)] = [
        ("", true), (",readonly=on", true), (",readonly=off", true), (",readonly", true), (",readonly=yes", true),
        (",readonly=false", true), (",serial=disk0", true), (",readonly=on,serial=d", true),
        (",cache=none", true), (",aio=threads,cache=writeback", true), (",aio=io_uring", true),
        (",readonly=maybe", false), (",cache=unsafe", false), (",aio=native", false), (",discard=unmap", false),
        (",serial=123456789012345678901", false), (",serial=", false),
    ]

    @Test(arguments: diskOptions)
    func diskSpellingsAgree(options: String, valid: Bool) throws {
        let disk = Self.image + options
        let run = try SwiftdmExecutable.run(["run", "--check", "--firmware", Self.image, "--disk", disk], timeout: 30)
        let vhost = try SwiftdmExecutable.run(["vhost-user", "--check", "--socket", "/tmp/sdm-unused.sock", "--blk", disk], timeout: 30)
        let xen = try SwiftdmExecutable.run(["xen", "--check", "--domid", "1", "--disk", disk], timeout: 30)
        for (name, r) in [("run", run), ("vhost-user", vhost), ("xen", xen)] {
            #expect((r.status == 0) == valid, "\(name) \(disk): status \(r.status) \(r.stderr)")
        }
        if valid {
            // The same device, described the same way.
            let line = vhost.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(run.stdout.contains(line), "run: \(run.stdout) vhost-user: \(line)")
            #expect(xen.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == line)
        } else {
            #expect(run.stderrLines.count == 1, "\(run.stderr)")
            #expect(xen.stderrLines.count == 1, "\(xen.stderr)")
        }
    }

    @Test(arguments: [
        ("tap=sdmopt0", true), ("tap=sdmopt0,mac=52:54:00:12:34:56", true), ("mac=52:54:00:12:34:56,tap=sdmopt0", true),
        ("tap=", false), ("mac=52:54:00:12:34:56", false), ("tap=0123456789abcdef", false), ("tap=a/b", false),
        ("tap=t0,mac=01:00:00:00:00:01", false), ("tap=t0,mac=zz", false),
    ])
    func netSpellingsAgree(net: String, valid: Bool) throws {
        let run = try SwiftdmExecutable.run(["run", "--check", "--firmware", Self.image, "--net", net], timeout: 30)
        let vhost = try SwiftdmExecutable.run(["vhost-user", "--check", "--socket", "/tmp/sdm-unused.sock", "--net", net], timeout: 30)
        let xen = try SwiftdmExecutable.run(["xen", "--check", "--domid", "1", "--net", net], timeout: 30)
        for (name, r) in [("run", run), ("vhost-user", vhost), ("xen", xen)] {
            #expect((r.status == 0) == valid, "\(name) \(net): status \(r.status) \(r.stderr)")
        }
    }

    /// `--device NAME,…` reaches every kind in every front end.
    @Test func deviceOptionInEveryFrontEnd() throws {
        let run = try SwiftdmExecutable.run(
            ["run", "--check", "--firmware", Self.image, "--device", "virtio-blk,file=\(Self.image),readonly=on,transport=mmio",
             "--device", "virtio-rng"], timeout: 30)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("virtio-blk \(Self.image) (read-only) on mmio"), "\(run.stdout)")
        #expect(run.stdout.contains("virtio-rng on pci"), "\(run.stdout)")
        let vhost = try SwiftdmExecutable.run(["vhost-user", "--check", "--socket", "/tmp/x.sock", "--device", "virtio-rng"], timeout: 30)
        #expect(vhost.status == 0 && vhost.stdout == "virtio-rng\n", "\(vhost.stdout) \(vhost.stderr)")
        let bad = try SwiftdmExecutable.run(["run", "--check", "--firmware", Self.image, "--device", "virtio-vga"], timeout: 30)
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("unknown device 'virtio-vga'"), "\(bad.stderr)")
    }

    @Test func anEmptySocketPathIsRefused() throws {
        let r = try SwiftdmExecutable.run(["vhost-user", "--check", "--socket", "", "--rng"], timeout: 30)
        #expect(r.status != 0)
        #expect(r.stderr.contains("--socket needs a path"), "\(r.stderr)")
    }
}
