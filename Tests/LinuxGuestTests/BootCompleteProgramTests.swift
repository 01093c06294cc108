import Foundation
import Testing
import GuestKit

/// The guest kit's boot-complete program is a valid static x86-64 executable. Run here as an
/// unprivileged user, `ioperm` is refused and it exits 1 without touching the port (as root it
/// would write to this host's port 0x3F0); the real signal is checked by the Linux-on-KVM tests.
struct BootCompleteProgramTests {
    @Test func runsAndReportsARefusedIoperm() throws {
        let dir = try ScratchDirectory.create(prefix: "/tmp/sdm-bootcomplete-")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/swiftdm-boot-complete"
        try BootCompleteProgram.elf.write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: 0o755, .ownerAccountID: 65534], ofItemAtPath: dir)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        let p = Process()
        if getuid() == 0 {
            p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            p.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", path]
        } else {
            p.executableURL = URL(fileURLWithPath: path)
        }
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationReason == .exit && p.terminationStatus == 1, "status \(p.terminationStatus) (\(p.terminationReason.rawValue))")
    }
}
