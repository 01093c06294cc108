import Testing
import GuestKit

@Suite("nested-KVM lab console parsing")
struct NestedKVMLabRunTests {
    @Test("scenarios split at their markers, L2 markers and L1 checks inside")
    func parsing() {
        let console = """
            [ 1.0] boot\r
            LAB-KVM-READY uptime=11.50\r
            LAB-BEGIN pci\r
            SWIFTDM-READY uptime=20.1\r
            sha256=abc\r
            SWIFTDM-EXIT status=0 uptime=21.0\r
            head-target=pattern\r
            LAB-END pci status=0 seconds=33.25\r
            LAB-BEGIN panic\r
            Kernel panic\r
            LAB-END panic status=1 seconds=30.00\r
            LAB-BEGIN hung\r
            [ 99.0] still booting\r

            """
        let run = NestedKVMLabRun(console: console, wallSeconds: 120, hostStatus: nil)
        #expect(run.kvmReadyUptime == 11.5)
        #expect(run.scenarios.map(\.name) == ["pci", "panic", "hung"])
        #expect(run["pci"]?.status == 0)
        #expect(run["pci"]?.seconds == 33.25)
        #expect(run["pci"]?.guest.exitStatus == 0)
        #expect(run["pci"]?.guest.reported("sha256") == "abc")
        #expect(run["pci"]?.reported("head-target") == "pattern")
        #expect(run["panic"]?.status == 1)
        #expect(run["hung"]?.status == nil)
    }

    @Test("a retried scenario keeps only its second attempt's output and says why it ran twice")
    func retry() {
        let console = """
            LAB-KVM-READY uptime=4.0
            LAB-BEGIN demo
            swiftdm run: vCPU 1: guest shut down the CPU (triple fault) at rip=0xfff0
            LAB-RETRY demo an application processor of L2 triple-faulted while Linux brought it up (status 1); running the scenario once more
            SWIFTDM-READY uptime=20.1
            SWIFTDM-EXIT status=0 uptime=21.0
            LAB-END demo status=0 seconds=30.00
            LAB-BEGIN once
            LAB-END once status=0 seconds=1.00

            """
        let run = NestedKVMLabRun(console: console, wallSeconds: 60, hostStatus: 0)
        #expect(run["demo"]?.status == 0)
        #expect(run["demo"]?.output.contains("triple fault") == false)
        #expect(run["demo"]?.guest.exitStatus == 0)
        #expect(run["demo"]?.retryReason?.hasPrefix("an application processor of L2 triple-faulted") == true)
        #expect(run["once"]?.retryReason == nil)
    }
}
