import Foundation
import GuestKit

/// The Xen lab's scenarios for ``XenLabTests``, all in one boot of Xen and dom0 under QEMU TCG,
/// started by the first test that asks, and the host-side values the tests compare against.
enum XenLabBench {
    /// Why the Xen lab tests cannot run at all: only a host without QEMU (or without the
    /// `swiftdm` executable next to the tests) skips; every other problem fails the tests.
    static let skipReason: String? = {
        if !HostCommand.exists("qemu-system-x86_64") { return "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)" }
        if LinuxGuestHost.swiftdm == nil { return "the swiftdm executable is not next to the test bundle (swift build first)" }
        return nil
    }()

    static let available: Bool = {
        if let skipReason { print("SKIP: Xen lab tests (real Xen 4.17 under QEMU TCG): \(skipReason)") }
        return skipReason == nil
    }()

    /// The data disks: `dataSize` bytes, the first `dataRandom` random; guests write
    /// ``pattern`` at `patternOffset` (in the zero half).
    static let dataSize = 8 << 20
    static let dataRandom = 4 << 20
    static let patternSector = 8192
    static let pattern = "swiftdm-xen-lab-pattern"
    /// The MBR guest writes sector 100 with this 16-byte string 32 times (Tests/Guests/xen-mbr.asm).
    static let mbrPattern = "XENMBR-WRITE-OK "

    /// What the run produced and what the host expects.
    struct Outcome {
        var run: XenLabRun
        /// The MBR guest's checksum of sectors 1…64, as it prints it (8 hex digits).
        var mbrChecksum: String
        /// SHA-256 of each data disk's random part, by file name.
        var dataSHA256: [String: String]
    }

    static let outcome: Result<Outcome, Error> = Result { try runLab() }

    /// The Linux guests' script (the guest kit's `/init` runs it after loading the virtio
    /// drivers): find the data disk by its size, hash it, write the pattern, read the hwrng,
    /// list the PCI functions.
    static let guestScript = """
        data=""; for b in /sys/block/vd*; do [ "$(cat $b/size)" = \(dataSize / 512) ] && data=/dev/${b##*/}; done
        echo "data=${data:-none}"
        # The first read is kept (tmpfs) so that a mismatch tells the bytes transferred from the
        # guest's hashing of them: each MiB's hash of the kept copy and of the page cache.
        [ -n "$data" ] && head -c \(dataRandom) $data > /tmp/first && echo "sha256=$(sha256sum /tmp/first | cut -d' ' -f1)"
        [ -n "$data" ] && for i in 0 1 2 3; do echo "mib$i=$(dd if=$data bs=1M skip=$i count=1 2>/dev/null | sha256sum | cut -c1-16)"; done
        [ -n "$data" ] && for i in 0 1 2 3; do echo "first_mib$i=$(dd if=/tmp/first bs=1M skip=$i count=1 2>/dev/null | sha256sum | cut -c1-16)"; done
        [ -n "$data" ] && echo "sha256_again=$(sha256sum /tmp/first | cut -d' ' -f1)"; rm -f /tmp/first
        echo 3 > /proc/sys/vm/drop_caches
        [ -n "$data" ] && echo "sha256_reread=$(head -c \(dataRandom) $data | sha256sum | cut -d' ' -f1)"
        [ -n "$data" ] && printf '\(pattern)' | dd of=$data bs=512 seek=\(patternSector) conv=sync,fsync 2>/dev/null && echo "write=ok"
        echo "rng=$(head -c 32 /dev/hwrng 2>/dev/null | wc -c)"
        echo "pci=$(for d in /sys/bus/pci/devices/*; do printf '%s:%s,' $(cat $d/vendor) $(cat $d/device); done)"
        """

    /// The Linux guests' kernel command line. `xen_emul_unplug=never`: with qemu-xen's Xen
    /// platform device, Linux would otherwise ask qemu-xen to unplug its emulated disks, and
    /// qemu-xen 7.2 unplugs every PCI storage function of SCSI class, virtio-blk included.
    static let guestCommandLine = "console=ttyS0 quiet panic=-1 xen_emul_unplug=never " + GuestInit.commandArgument(guestScript)

    /// The save/restore guest: counts once a second to ``saveRestoreCounts``, each count
    /// written (fsync'd) to sector 1000 + N of its data disk, then reads them back.
    static let saveRestoreCounts = 25
    static let saveRestoreScript = """
        data=""; for b in /sys/block/vd*; do [ "$(cat $b/size)" = \(dataSize / 512) ] && data=/dev/${b##*/}; done
        i=0
        while [ $i -lt \(saveRestoreCounts) ]; do
            i=$((i+1))
            printf 'count %d\\n' $i | dd of=$data bs=512 seek=$((1000 + i)) conv=sync,fsync 2>/dev/null && echo "count $i"
            # Read straight back from the device (no page cache): a lost write shows at once.
            back=$(dd if=$data bs=4096 skip=$(((1000 + i) / 8)) count=1 iflag=direct 2>/dev/null | dd bs=512 skip=$(((1000 + i) % 8)) count=1 2>/dev/null | tr -d '\\000' | cut -d' ' -f2 | tr -d '\\n')
            [ "$back" = "$i" ] || echo "readback $i=$back"
            sleep 1
        done
        seq=""; j=1
        while [ $j -le \(saveRestoreCounts) ]; do
            seq="$seq$(dd if=$data bs=512 skip=$((1000 + j)) count=1 2>/dev/null | tr -d '\\000' | cut -d' ' -f2 | tr -d '\\n'),"
            j=$((j+1))
        done
        echo "sequence=$seq"
        dmesg | grep -E 'segfault|general protection|invalid opcode|Bad page|BUG:' | tail -n 20 | sed 's/^/guest-kernel: /'
        echo "rng=$(head -c 32 /dev/hwrng 2>/dev/null | wc -c)"
        """

    static func runLab() throws -> Outcome {
        let kit = try LinuxGuestHost.requireKit()
        let swiftdm = try LinuxGuestHost.requireSwiftdm()
        let scratch = try LinuxGuestHost.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let log: @Sendable (String) -> Void = { print("xen-lab: \($0)") }
        let parts = try XenLabParts.build(in: XenLabParts.defaultDirectory(kit: kit), cacheDirectory: kit.directory + "/debs", kit: kit, log: log)
        var lab = try XenLab(parts: parts, swiftdm: swiftdm, workDirectory: scratch + "/lab", log: log)
        // SWIFTDM_XEN_LAB_CPUS: the lab machine's CPU count (QEMU -smp), for comparing TCG's stability.
        if let cpus = ProcessInfo.processInfo.environment["SWIFTDM_XEN_LAB_CPUS"].flatMap({ Int($0) }), (1...8).contains(cpus) { lab.cpus = cpus }

        // The MBR disk: the boot sector, 64 random sectors it sums, zeros (sector 100 gets written).
        let mbrSource = scratch + "/xen-mbr.bin"
        let asm = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Guests/xen-mbr.asm").path
        try HostCommand.run(["nasm", "-f", "bin", "-o", mbrSource, asm])
        var image = try Data(contentsOf: URL(fileURLWithPath: mbrSource))
        var generator = SystemRandomNumberGenerator()
        let payload = (0..<(64 * 512)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        var sum: UInt32 = 0
        for i in stride(from: 0, to: payload.count, by: 4) {
            sum &+= UInt32(payload[i]) | UInt32(payload[i + 1]) << 8 | UInt32(payload[i + 2]) << 16 | UInt32(payload[i + 3]) << 24
        }
        image += payload
        image += Data(count: (1 << 20) - image.count)
        let mbrQemu = scratch + "/mbr-qemu.img", mbrSwiftdm = scratch + "/mbr-swiftdm.img"
        try image.write(to: URL(fileURLWithPath: mbrQemu))
        try image.write(to: URL(fileURLWithPath: mbrSwiftdm))
        let checksum = String(sum, radix: 16, uppercase: true)
        let mbrChecksum = String(repeating: "0", count: max(0, 8 - checksum.count)) + checksum

        // The Linux boot disk (shared: nothing writes it) and one data disk per guest.
        let linux = scratch + "/linux.img"
        var disk = SyslinuxDisk(kernel: kit.kernel, initrd: kit.initrd, commandLine: guestCommandLine)
        disk.sizeMiB = 32
        try disk.write(to: linux)
        let counting = scratch + "/counting.img"
        var countingDisk = SyslinuxDisk(kernel: kit.kernel, initrd: kit.initrd,
                                        commandLine: "console=ttyS0 quiet panic=-1 xen_emul_unplug=never " + GuestInit.commandArgument(saveRestoreScript))
        countingDisk.sizeMiB = 32
        try countingDisk.write(to: counting)
        var sums: [String: String] = [:]
        for name in ["data-qemu.img", "data-swiftdm.img", "data-beside.img", "data-save.img", "data-migrate.img", "data-save-qemu.img"] {
            let d = try TestImage.create(at: scratch + "/" + name, size: dataSize, randomPrefix: dataRandom)
            sums[name] = try d.sha256(count: dataRandom)
        }
        let file = { (name: String) in XenLabScenario.File(hostPath: scratch + "/" + name, name: name) }

        var scenarios = [
            XenLabBenchScripts.seabios(),
            XenLabBenchScripts.mbr(name: "qemu-xen-mbr", deviceModel: nil, image: file("mbr-qemu.img")),
            XenLabBenchScripts.linux(name: "qemu-xen-linux", deviceModel: nil, boot: file("linux.img"), data: file("data-qemu.img")),
            XenLabBenchScripts.mbr(name: "swiftdm-mbr", deviceModel: XenLabPaths.swiftdm, image: file("mbr-swiftdm.img")),
            XenLabBenchScripts.linux(name: "swiftdm-linux", deviceModel: XenLabPaths.swiftdm, boot: file("linux.img"), data: file("data-swiftdm.img")),
            XenLabBenchScripts.beside(boot: file("linux.img"), data: file("data-beside.img")),
            XenLabBenchScripts.saveRestore(boot: file("counting.img"), data: file("data-save.img")),
            XenLabBenchScripts.migrate(boot: file("counting.img"), data: file("data-migrate.img")),
        ]
        // SWIFTDM_XEN_LAB_SCENARIOS: only these scenarios (comma-separated names), for working on
        // one; it may also name qemu-xen-save-restore, the save/restore guest on qemu-xen (for
        // comparing what the lab does to a guest whatever its device model).
        var filtered = false
        if let only = ProcessInfo.processInfo.environment["SWIFTDM_XEN_LAB_SCENARIOS"]?.split(separator: ",").map(String.init), !only.isEmpty {
            scenarios.append(XenLabBenchScripts.saveRestore(name: "qemu-xen-save-restore", deviceModel: nil, boot: file("counting.img"),
                                                            data: file("data-save-qemu.img")))
            scenarios = scenarios.filter { only.contains($0.name) }
            filtered = true
            print("xen-lab: SWIFTDM_XEN_LAB_SCENARIOS: running only \(scenarios.map(\.name))")
        }
        var run = try lab.run(scenarios, echo: LinuxGuestHost.echo)
        // The qemu-xen baselines exercise nothing of swiftdm: when one of them did not reach its
        // milestone, the emulation (QEMU TCG under load, xl's occasional crashes here) failed,
        // and the lab runs once more — announced, never silent. swiftdm's scenarios are judged
        // on the run that is kept, whatever happened to them.
        // Likewise when the lab machine stopped altogether (its console silent for minutes:
        // dom0's own waits print every half minute, so Xen or the emulation stalled).
        if !filtered, let reason = run.stalled ? "the lab machine stopped (console silent)"
            : baselineFailure(run).map({ "a qemu-xen baseline failed (\($0))" }) {
            let line = "xen-lab: RETRY: \(reason); running the whole Xen lab once more"
            print(line)
            FileHandle.standardError.write(Data((line + "\n").utf8))
            run = try lab.run(scenarios, echo: LinuxGuestHost.echo)
        }
        print("xen-lab: dom0 ready at \(run.dom0ReadyUptime ?? 0) s dom0 uptime; whole run \(String(format: "%.1f", run.wallSeconds)) s wall, QEMU status \(run.hostStatus.map { "\($0)" } ?? "killed")"
              + (run.stalled ? "; QEMU KILLED: its console was silent for 5 minutes (the machine stopped)" : ""))
        for s in run.scenarios {
            print("xen-lab: scenario \(s.name): status \(s.status.map { "\($0)" } ?? "none"), \(s.seconds.map { "\($0)" } ?? "?") s")
        }
        return Outcome(run: run, mbrChecksum: mbrChecksum, dataSHA256: sums)
    }

    /// Why a qemu-xen baseline of `run` did not reach its milestone, or `nil`.
    static func baselineFailure(_ run: XenLabRun) -> String? {
        guard let seabios = run["qemu-xen-seabios"], seabios.reported("firmware") == "no-bootable-device" else {
            return "qemu-xen-seabios: firmware \(run["qemu-xen-seabios"]?.reported("firmware") ?? "scenario missing")"
        }
        guard let mbr = run["qemu-xen-mbr"], mbr.reported("write") == "ok", mbr.reported("checksum") != "none" else {
            return "qemu-xen-mbr: checksum \(run["qemu-xen-mbr"]?.reported("checksum") ?? "scenario missing")"
        }
        guard let linux = run["qemu-xen-linux"], linux.reported("domain") == "gone", linux.serial.reported("sha256") != nil else {
            return "qemu-xen-linux: domain \(run["qemu-xen-linux"]?.reported("domain") ?? "scenario missing")"
        }
        return nil
    }

    /// The scenario `name` of the run.
    static func scenario(_ name: String) throws -> XenLabScenarioResult {
        let o = try outcome.get()
        guard let s = o.run[name] else {
            throw LinuxGuestHost.SkipReason("the Xen lab never began scenario \(name); console tail:\n\(o.run.console.suffix(4000))")
        }
        return s
    }
}

extension XenLabScenarioResult {
    /// The guest's serial console, as the scenario printed it (`serial| ` lines).
    var serial: GuestRun {
        let lines = output.split(separator: "\n").filter { $0.hasPrefix("serial| ") }.map { $0.dropFirst("serial| ".count) }
        return GuestRun(console: lines.joined(separator: "\n"), wallSeconds: seconds ?? 0, hostStatus: status)
    }

    /// A file the scenario dumped with `xenlab_dump`, if it did.
    func dumped(_ path: String) -> String? {
        guard let start = output.range(of: "----- \(path)\n") else { return nil }
        let rest = output[start.upperBound...]
        guard let end = rest.range(of: "----- end of \(path)") else { return String(rest) }
        return String(rest[..<end.lowerBound])
    }
}
