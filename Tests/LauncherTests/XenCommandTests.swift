import Testing
import SwiftdmTestSupport
import XenGlue
#if canImport(Glibc)
import Glibc
#endif

/// `swiftdm xen` on a host without Xen: the built binary prints one clear line and exits
/// non-zero; its command line takes every device the catalogue builds.
@Suite(.enabled(if: SwiftdmExecutable.path != nil, "needs the swiftdm executable (see the SKIP line)"))
struct XenCommandTests {
    static let onXen = access(XenGlueInfo.privcmdPath, F_OK) == 0

    @Test(.enabled(if: !onXen, "SKIP: this host has /dev/xen/privcmd (a Xen dom0); attaching would be real"))
    func xenWithoutXenFailsWithOneLine() throws {
        let r = try SwiftdmExecutable.run(["xen", "--domid", "1"], timeout: 30)
        #expect(r.status != 0)
        #expect(r.stdout.isEmpty)
        #expect(r.stderrLines.count == 1, "stderr: \(r.stderr)")
        #expect(r.stderrLines.first == "swiftdm xen: cannot attach to domain 1: not running on Xen: /dev/xen/privcmd does not exist (swiftdm xen needs a Xen dom0)")
    }

    /// Net, rng and console are accepted beside disks; without Xen the attach still fails with
    /// one line (and `--check` shows what would have been served).
    @Test(.enabled(if: !onXen, "SKIP: this host has /dev/xen/privcmd (a Xen dom0); attaching would be real"))
    func everyDeviceKindIsAccepted() throws {
        let devices = ["--net", "tap=sdmxen0,mac=52:54:00:00:00:42", "--rng", "--console", "socket=/tmp/sdm-xen-con.sock"]
        let r = try SwiftdmExecutable.run(["xen", "--domid", "3"] + devices, timeout: 30)
        #expect(r.status == 1)
        #expect(r.stderrLines.count == 1, "stderr: \(r.stderr)")
        #expect(r.stderr.hasPrefix("swiftdm xen: cannot attach to domain 3: not running on Xen"), "\(r.stderr)")
        let check = try SwiftdmExecutable.run(["xen", "--domid", "3", "--check"] + devices, timeout: 30)
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stdout == "virtio-net on tap sdmxen0 mac 52:54:00:00:00:42\nvirtio-rng\nvirtio-console (host end: socket /tmp/sdm-xen-con.sock)\n")
    }

    @Test func domainZeroIsRefused() throws {
        let r = try SwiftdmExecutable.run(["xen", "--domid", "0"], timeout: 30)
        #expect(r.status == 2)
        #expect(r.stderr == "swiftdm xen: --domid '0': must name a guest domain (1…32751)\n")
        let r2 = try SwiftdmExecutable.run(["xen", "--domid", "1", "--disk", "/nonexistent/disk.img"], timeout: 30)
        #expect(r2.status == 2)
        #expect(r2.stderr == "swiftdm xen: --disk /nonexistent/disk.img: No such file or directory\n")
    }

    static let ldd: String? = ["/usr/bin/ldd", "/bin/ldd"].first { access($0, X_OK) == 0 }

    /// The launcher links the real libxen libraries (through XenGlue's CXen module).
    @Test(.enabled(if: ldd != nil, "SKIP: ldd is not installed"))
    func swiftdmLinksLibxen() throws {
        let r = try SwiftdmExecutable.run([], timeout: 30, launcher: [try #require(Self.ldd)])
        #expect(r.status == 0)
        for library in ["libxendevicemodel", "libxenforeignmemory", "libxenevtchn", "libxenstore"] {
            #expect(r.stdout.contains(library + ".so"), "\(library) missing from ldd output")
        }
    }
}
