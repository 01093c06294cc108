import Testing
import GuestKit

@Suite("guest console parsing")
struct GuestRunTests {
    @Test("markers, \\r\\n line ends and reported values")
    func parsing() {
        let console = "SeaBIOS\r\n\u{1b}c\u{1b}[2JSWIFTDM-READY uptime=3.80\r\nsha=abc123\r\nx=1 y=2\r\nSWIFTDM-EXIT status=3 uptime=4.25\r\n[ 4.3] reboot: Power down\r\n"
        let run = GuestRun(console: console, wallSeconds: 5)
        #expect(run.readyUptime == 3.80)
        #expect(run.exitStatus == 3)
        #expect(run.exitUptime == 4.25)
        #expect(run.commandOutput == "sha=abc123\nx=1 y=2\n")
        #expect(run.reported("sha") == "abc123")
        #expect(run.reported("y") == "2")
        #expect(run.reported("missing") == nil)
    }

    @Test("a guest that never finished")
    func unfinished() {
        let run = GuestRun(console: "SWIFTDM-READY uptime=1.5\nsha=ff\n", wallSeconds: 300)
        #expect(run.exitStatus == nil)
        #expect(run.reported("sha") == "ff")
    }
}
