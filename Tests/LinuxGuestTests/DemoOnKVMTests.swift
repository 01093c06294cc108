import Foundation
import GuestKit
import Testing

/// `swiftdm demo --kvm`: the demo guest on swiftdm's own KVM, natively or through the
/// nested-KVM lab, end to end through the launcher.
@Suite(.enabled(if: KVMLinuxHost.available, "needs swiftdm, the guest kit, and a native KVM or QEMU (see the SKIP line)"))
struct DemoOnKVMTests {
    @Test func demoOnSwiftdmKVMChecksItsDisk() throws {
        let p = try ConsoleProcess([try LinuxGuestHost.requireSwiftdm(), "demo", "--kvm", "--disk-mib", "32"], echo: LinuxGuestHost.echo)
        let finished = p.waitForExit(timeout: .seconds(900))
        if !finished { p.kill() }
        let out = p.output
        #expect(finished && p.exitStatus == 0, "\(out.suffix(3000))")
        #expect(out.contains("== swiftdm run"), "the guest ran on swiftdm's KVM, not over vhost-user")
        #expect(out.contains("sha256") && out.contains("(match)"), "\(out.suffix(2000))")
        #expect(out.contains("/dev/hvc0: line received"))
    }
}
