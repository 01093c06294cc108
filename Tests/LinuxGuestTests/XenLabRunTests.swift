import Testing
import GuestKit

@Suite("Xen lab console parsing and xl configurations")
struct XenLabRunTests {
    @Test("scenarios split at their markers; Xen's lines between them belong to the scenario")
    func parsing() {
        let console = """
            (XEN) Xen version 4.17.7\r
            xen_caps               : xen-3.0-x86_64 hvm-3.0-x86_64\r
            XENLAB-DOM0-READY uptime=10.12\r
            XENLAB-BEGIN mbr\r
            create_status=0\r
            (d1) XENMBR: checksum 0123ABCD\r
            checksum=0123ABCD\r
            checksum=89ABCDEF\r
            XENLAB-END mbr status=0 seconds=9.11\r
            XENLAB-BEGIN hung\r
            first_line_seconds=24.01\r

            """
        let run = XenLabRun(console: console, wallSeconds: 60, hostStatus: nil)
        #expect(run.dom0ReadyUptime == 10.12)
        #expect(run.noHVMReason == nil)
        #expect(run.scenarios.map(\.name) == ["mbr", "hung"])
        #expect(run["mbr"]?.status == 0)
        #expect(run["mbr"]?.seconds == 9.11)
        #expect(run["mbr"]?.reported("checksum") == "89ABCDEF", "the last report wins")
        #expect(run["mbr"]?.lines(containing: "XENMBR") == ["(d1) XENMBR: checksum 0123ABCD"])
        #expect(run["hung"]?.status == nil)
        #expect(run["hung"]?.reported("first_line_seconds") == "24.01")
    }

    /// Xen prints a guest's debug-port output on the console dom0 writes to; a `(dN) …` line
    /// can land inside a dom0 line (seen: `create_status=0(d2)`).
    @Test("a guest line interjected by Xen is cut out of a reported value")
    func interjections() {
        let console = """
            XENLAB-BEGIN s
            create_status=0(d2) HVM Loader
            (d2) Detected Xen v4.17.7
            write=ok(d2) Booting from Hard Disk...
            xl_list_has_domain=1
            (d3) x sha256=abc(d3) y
            XENLAB-END s status=0 seconds=1

            """
        let run = XenLabRun(console: console, wallSeconds: 1, hostStatus: 0)
        #expect(run["s"]?.reported("create_status") == "0")
        #expect(run["s"]?.reported("write") == "ok")
        #expect(run["s"]?.reported("domain") == nil, "not the tail of another key")
        #expect(run["s"]?.reported("xl_list_has_domain") == "1")
        #expect(run["s"]?.reported("sha256") == "abc")
    }

    @Test("no HVM: the reason dom0 printed")
    func noHVM() {
        let run = XenLabRun(console: "XENLAB-NO-HVM virt_caps : pv\n", wallSeconds: 1, hostStatus: 0)
        #expect(run.noHVMReason == "virt_caps : pv")
        #expect(run.dom0ReadyUptime == nil)
    }

    @Test("an HVM config for swiftdm: override, arguments quoted, RDTSCP hidden for an OS guest")
    func config() {
        var config = XenGuestConfig(name: "g1", deviceModel: XenLabPaths.swiftdm,
                                    deviceModelArguments: ["-drive", "file=/root/a \"b\".img,if=none,id=d0,format=raw"])
        config.memoryMiB = 128
        let text = config.text
        #expect(text.contains("type=\"hvm\"\n"))
        #expect(text.contains("device_model_version=\"qemu-xen\"\n"))
        #expect(text.contains("device_model_override=\"/usr/local/bin/swiftdm\"\n"))
        #expect(text.contains("device_model_args=[\"-drive\",\"file=/root/a \\\"b\\\".img,if=none,id=d0,format=raw\"]\n"))
        #expect(text.contains("vga=\"none\"\n"))
        #expect(text.contains("serial=\"file:/tmp/g1-serial.log\"\n"))
        #expect(text.contains("memory=128\n"))
        #expect(text.contains("on_poweroff=\"destroy\"\n"))
        #expect(text.contains("cpuid=\"host,rdtscp=0\"\n"))
        config.operatingSystem = false
        #expect(!config.text.contains("cpuid="))
    }
}
