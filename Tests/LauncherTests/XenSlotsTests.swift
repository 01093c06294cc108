import SwiftdmTestSupport
import Testing

/// `swiftdm xen --slots`: where the devices go on bus 0, checked before anything attaches.
@Suite struct XenSlotsTests {
    @Test func platformSlotsAreRefusedWithOneLine() throws {
        let r = try SwiftdmExecutable.run(["xen", "--check", "--domid", "1", "--rng", "--slots", "2,5"], timeout: 30)
        #expect(r.status == 2)
        #expect(r.stderrLines.count == 1 && r.stderr.contains("--slots") && r.stderr.contains("slot 2"), "\(r.stderr)")
    }

    @Test func validSlotsPass() throws {
        let r = try SwiftdmExecutable.run(["xen", "--check", "--domid", "1", "--rng", "--slots", "6-8"], timeout: 30)
        #expect(r.status == 0, "\(r.stderr)")
    }
}
