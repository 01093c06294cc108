import Testing
import SwiftdmTestSupport
import XenGlue
#if canImport(Glibc)
import Glibc
#endif

/// `swiftdm` spawned by libxl as an HVM guest's device model: the QEMU-style command line of
/// Xen 4.17's `libxl__build_device_model_args_new` is accepted as a whole; what swiftdm cannot
/// serve is refused with one line and status 2, before anything is attached. (The lab runs it
/// under real Xen; here, without Xen, an accepted command line fails to attach with status 1.)
@Suite(.enabled(if: SwiftdmExecutable.path != nil, "needs the swiftdm executable (see the SKIP line)"))
struct XenDeviceModelArgvTests {
    static let onXen = access(XenGlueInfo.privcmdPath, F_OK) == 0

    /// What libxl 4.17 passed to a device model in the lab (recorded with a stand-in), with
    /// `device_model_args_hvm` disks and an xl `disk=` entry.
    static func libxlArguments(domid: Int = 5, extra: [String] = []) -> [String] {
        let qmp = "/tmp/sdm-argv-\(getpid())"
        return ["-xen-domid", "\(domid)", "-no-shutdown",
                "-chardev", "socket,id=libxl-cmd,path=\(qmp)-libxl,server=on,wait=off", "-mon", "chardev=libxl-cmd,mode=control",
                "-chardev", "socket,id=libxenstat-cmd,path=\(qmp)-stat,server=on,wait=off", "-mon", "chardev=libxenstat-cmd,mode=control",
                "-nodefaults", "-no-user-config", "-name", "guest1", "-vnc", "none", "-display", "none",
                "-serial", "file:/tmp/sdm-argv-serial.log", "-device", "cirrus-vga,vgamem_mb=8", "-boot", "order=cda",
                "-smp", "2,maxcpus=2", "-net", "none", "-machine", "xenfv,suppress-vmdesc=on"] + extra + ["-m", "128"]
    }

    @Test(.enabled(if: !onXen, "SKIP: this host has /dev/xen/privcmd (a Xen dom0); attaching would be real"))
    func libxlsCommandLineIsAcceptedAndOnlyTheAttachFails() throws {
        let disk = "/tmp/sdm-argv-d0-\(getpid()).img"
        let second = "/tmp/sdm-argv-hda-\(getpid()).img"
        for path in [disk, second] {
            let fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0o644)
            #expect(fd >= 0 && ftruncate(fd, 1 << 20) == 0)
            close(fd)
        }
        defer { unlink(disk); unlink(second) }
        let extra = ["-drive", "file=\(disk),if=none,id=d0,format=raw", "-device", "virtio-blk-pci,drive=d0,serial=abc",
                     "-device", "virtio-rng-pci",
                     "-drive", "file=\(second),if=ide,index=0,media=disk,format=raw,cache=writeback"]
        let r = try SwiftdmExecutable.run(Self.libxlArguments(extra: extra), timeout: 30)
        #expect(r.status == 1, "stderr: \(r.stderr)")
        #expect(r.stderr.contains("swiftdm: note: -device cirrus-vga,vgamem_mb=8: no emulated VGA on swiftdm"), "\(r.stderr)")
        #expect(r.stderr.contains("swiftdm: cannot serve domain 5: not running on Xen"), "\(r.stderr)")
    }

    @Test(arguments: [
        (["-kernel", "/boot/vmlinuz"], "swiftdm: -kernel: direct kernel boot is not served; boot the guest from a disk (see the README)"),
        (["-vnc", "127.0.0.1:0"], "swiftdm: -vnc 127.0.0.1:0: a Xen guest on swiftdm has no emulated display; set vnc=0 (and vga=\"none\") in the xl config"),
        (["-device", "e1000,id=nic0,netdev=net0,mac=00:16:3e:00:00:01"], "swiftdm: -device e1000: swiftdm serves virtio-blk-pci, virtio-net-pci and virtio-rng-pci to Xen guests"),
        (["-drive", "file=/nonexistent.iso,if=ide,index=2,media=cdrom,format=raw"], "swiftdm: -drive file=/nonexistent.iso,if=ide,index=2,media=cdrom,format=raw: media=cdrom: CD-ROMs are not served"),
        (["-drive", "file=/x.qcow2,if=none,id=q,format=qcow2"], "swiftdm: -drive file=/x.qcow2,if=none,id=q,format=qcow2: only format=raw images are served"),
        (["-drive", "file=/x.img,if=none,id=lonely,format=raw"], "swiftdm: -drive id=lonely,if=none: no -device virtio-blk-pci,drive=lonely uses it"),
        (["-device", "virtio-blk-pci,drive=nowhere"], "swiftdm: -device virtio-blk-pci: drive=nowhere names no -drive if=none"),
        (["-usb"], "swiftdm: option -usb is not supported by swiftdm's Xen device model"),
        (["-incoming", "defer"], "swiftdm: -incoming defer: only fd:N (libxl's restore) is served"),
        // libxl's restore hands the saved device state as an inherited descriptor; an empty or
        // damaged one is refused before anything attaches.
        (["-incoming", "fd:0"], "swiftdm: -incoming fd:0: device state truncated at byte 0 (8 more bytes needed)"),
    ])
    func whatCannotBeServedIsRefusedWithOneLine(extra: [String], line: String) throws {
        let r = try SwiftdmExecutable.run(Self.libxlArguments(extra: extra), timeout: 30)
        #expect(r.status == 2, "stderr: \(r.stderr)")
        #expect(r.stderrLines.last.map(String.init) == line, "stderr: \(r.stderr)")
    }

    @Test func aBadDomainIsRefused() throws {
        let r = try SwiftdmExecutable.run(["-xen-domid", "0", "-m", "64"], timeout: 30)
        #expect(r.status == 2)
        #expect(r.stderr == "swiftdm: -xen-domid 0: expected a guest domain id (1…32751)\n")
    }

    @Test func aMissingDiskIsRefusedBeforeAttaching() throws {
        let r = try SwiftdmExecutable.run(Self.libxlArguments(extra: ["-drive", "file=/nonexistent/disk.img,if=ide,index=0,media=disk,format=raw"]), timeout: 30)
        #expect(r.status == 2, "stderr: \(r.stderr)")
        #expect(r.stderrLines.last?.contains("/nonexistent/disk.img") == true, "\(r.stderr)")
    }
}
