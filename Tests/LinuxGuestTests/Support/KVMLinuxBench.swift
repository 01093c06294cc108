import Foundation
import GuestKit

/// Runs ``KVMLinuxScenario``s on swiftdm's own KVM: directly where the host's KVM runs Linux
/// natively, else all of them in one boot of the nested-KVM lab (QEMU TCG with `-cpu max`,
/// whose `kvm-amd` is a hardware-style KVM), started by the first test that asks.
enum KVMLinuxBench {
    /// Every scenario of ``KVMRunLinuxTests``, batched into one lab boot.
    static let scenarios: [KVMLinuxScenario] = [
        KVMLinuxScenario(
            name: "pci-modern",
            command: """
                echo "sha256=$(head -c 1048576 /dev/vda | sha256sum | cut -d' ' -f1)"
                printf 'swiftdm-kvm-pci-pattern' | dd of=/dev/vdb bs=512 conv=sync,fsync 2>/dev/null && echo "write=ok"
                echo "rng=$(head -c 32 /dev/hwrng | wc -c)"
                echo "clocksource=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
                dmesg | grep -i -E 'unhandled|msr|pvpanic|clocksource|kvm' | sed 's/^/dmesg: /'
                # The serial console drains slowly (one exit per byte): let it finish its lines
                # before hvc0's output joins swiftdm's standard output.
                sleep 1
                [ -c /dev/hvc0 ] && echo swiftdm-hvc-line > /dev/hvc0 && sleep 1 && echo "hvc=present"
                """,
            transport: .pci, rng: true, virtioConsole: true,
            disks: [.init(name: "source", randomPrefix: 1 << 20), .init(name: "target", size: 1 << 20)], timings: true),
        KVMLinuxScenario(
            name: "two-cpus",
            command: """
                echo "cpus=$(grep -c ^processor /proc/cpuinfo)"
                echo "online=$(cat /sys/devices/system/cpu/online)"
                """,
            cpus: 2),
        KVMLinuxScenario(
            name: "mmio",
            command: """
                echo "sha256=$(head -c 1048576 /dev/vda | sha256sum | cut -d' ' -f1)"
                printf 'swiftdm-kvm-mmio-pattern' | dd of=/dev/vdb bs=512 conv=sync,fsync 2>/dev/null && echo "write=ok"
                """,
            transport: .mmio,
            disks: [.init(name: "source", randomPrefix: 1 << 20), .init(name: "target", size: 1 << 20)]),
        KVMLinuxScenario(
            name: "pci-transitional-readonly",
            command: """
                echo "sha256=$(head -c 1048576 /dev/vda | sha256sum | cut -d' ' -f1)"
                echo "ro=$(cat /sys/block/vda/ro)"
                if printf 'must-not-land' | dd of=/dev/vda bs=512 conv=sync,fsync 2>/dev/null; then echo "write=accepted"; else echo "write=refused"; fi
                """,
            transport: .pciTransitional,
            disks: [.init(name: "source", randomPrefix: 1 << 20, options: ",readonly=on")]),
        KVMLinuxScenario(
            name: "net",
            command: """
                ip addr add \(KVMLinuxScenario.guestAddress)/24 dev eth0 && ip link set eth0 up
                ping -c 3 -W 5 \(KVMLinuxScenario.hostAddress) > /tmp/ping.txt 2>&1 && echo "ping=ok"
                sed 's/^/ping: /' /tmp/ping.txt
                # iperf3 against the host side's server: guest → host, then host → guest (-R).
                for dir in up down; do
                    flag=""; [ $dir = down ] && flag=-R
                    iperf3 -c \(KVMLinuxScenario.hostAddress) -t 3 -f m $flag > /tmp/iperf.txt 2>&1
                    awk -v d=$dir '/receiver/ { print "iperf-" d "=" $(NF-2) }' /tmp/iperf.txt
                    grep -q receiver /tmp/iperf.txt || sed 's/^/iperf: /' /tmp/iperf.txt
                done
                """,
            tap: "sdmtap0", useToolsInitrd: true),
        KVMLinuxScenario(name: "panic", command: "echo c > /proc/sysrq-trigger"),
        // No panic=-1: only the pvpanic device can end this run.
        KVMLinuxScenario(name: "pvpanic", command: "ls /sys/bus/platform/drivers/pvpanic-mmio; echo c > /proc/sysrq-trigger",
                         shutdownArguments: []),
        KVMLinuxScenario(name: "reboot", command: "reboot -f", shutdownArguments: []),
    ]

    static func scenario(_ name: String) throws -> KVMLinuxScenario {
        guard let s = scenarios.first(where: { $0.name == name }) else { throw LinuxGuestHost.SkipReason("no scenario \(name)") }
        return s
    }

    /// Runs `name`: directly, or from the lab's one batched boot.
    static func outcome(_ name: String) throws -> KVMLinuxOutcome {
        let scenario = try scenario(name)
        if HostVirtualization.runsUnmodifiedGuestsNatively { return try direct(scenario) }
        return try labOutcomes.get()[name] ?? { throw LinuxGuestHost.SkipReason("the lab did not run \(name)") }()
    }

    private static func direct(_ scenario: KVMLinuxScenario) throws -> KVMLinuxOutcome {
        let kit = try LinuxGuestHost.requireKit()
        let dir = try LinuxGuestHost.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let images = try scenario.disks.map { try TestImage.create(at: "\(dir)/\($0.name).img", size: $0.size, randomPrefix: $0.randomPrefix) }
        let guest = scenario.guest(swiftdm: try LinuxGuestHost.requireSwiftdm(), kit: kit, diskPaths: images.map(\.path))
        let run: GuestRun
        if let tap = scenario.tap {
            // The host side of the tap lives in a namespace of its own, never on the host's network.
            if let reason = NetworkNamespace.unavailableReason { throw LinuxGuestHost.SkipReason("--net on a tap: \(reason)") }
            let namespace = try NetworkNamespace(name: "sdm-kvm-\(getpid())")
            try namespace.addTap(tap, address: "\(KVMLinuxScenario.hostAddress)/24")
            if scenario.useToolsInitrd {
                _ = try HostCommand.run(namespace.launcher + KVMLinuxScenario.iperf3Server)
            }
            defer {
                if let pid = try? String(contentsOfFile: KVMLinuxScenario.iperf3PIDFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
                   let n = Int32(pid) { kill(n, SIGTERM) }
            }
            run = try LaunchedGuest(inner: guest, launcher: namespace.launcher).run(echo: LinuxGuestHost.echo)
        } else {
            run = try guest.run(echo: LinuxGuestHost.echo)
        }
        var written: [String: String] = [:]
        var heads: [String: String] = [:]
        for (disk, image) in zip(scenario.disks, images) {
            written[disk.name] = try image.sha256(count: disk.randomPrefix)
            heads[disk.name] = String(decoding: try image.read(offset: 0, count: 64).prefix { $0 != 0 }, as: UTF8.self)
        }
        return KVMLinuxOutcome(run: run, writtenSHA256: written, headAfterRun: heads, place: "host KVM")
    }

    /// All scenarios in one lab boot, run once per test process.
    static let labOutcomes: Result<[String: KVMLinuxOutcome], Error> = Result {
        let kit = try LinuxGuestHost.requireKit()
        let swiftdm = try LinuxGuestHost.requireSwiftdm()
        let dir = try ScratchDirectory.create(prefix: "/tmp/sdm-lab-")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lab = try NestedKVMLab(kit: kit, swiftdm: swiftdm, workDirectory: dir) { print("lab: \($0)") }
        var labScenarios: [NestedKVMScenario] = []
        var written: [String: [String: String]] = [:]
        for s in scenarios {
            var files: [NestedKVMScenario.File] = []
            for d in s.disks {
                let image = try TestImage.create(at: "\(dir)/\(s.name)-\(d.name).img", size: d.size, randomPrefix: d.randomPrefix)
                written[s.name, default: [:]][d.name] = try image.sha256(count: d.randomPrefix)
                files.append(.init(hostPath: image.path, name: "\(s.name)-\(d.name).img"))
            }
            // L1 holds the images: it reports their heads after the run, as the host would.
            let afterwards = zip(s.disks, files).map { d, f in
                "echo \"head-\(d.name)=$(head -c 64 \(f.labPath) | tr -d '\\000' | tr ' ' '_')\""
            }.joined(separator: "\n")
            let guest = s.guest(swiftdm: swiftdm, kit: kit, diskPaths: [])
            var scenario = NestedKVMScenario.guest(name: s.name, guest, disks: files, diskOptions: s.disks.map(\.options),
                                                   afterwards: afterwards, timeout: .seconds(s.shutdownArguments.isEmpty ? 100 : 150))
            scenario.preparation = s.labPreparation
            labScenarios.append(scenario)
        }
        let run = try lab.run(labScenarios, echo: LinuxGuestHost.echo)
        print("BENCH: nested-KVM lab: L1 KVM ready at \(run.kvmReadyUptime.map { "\($0)" } ?? "?") s L1 uptime; "
              + run.scenarios.map { "\($0.name) \($0.seconds.map { "\($0)" } ?? "?") s" }.joined(separator: ", ")
              + String(format: "; %.1f s wall", run.wallSeconds))
        var outcomes: [String: KVMLinuxOutcome] = [:]
        for s in scenarios {
            guard let result = run[s.name] else { continue }
            var heads: [String: String] = [:]
            for d in s.disks { heads[d.name] = result.reported("head-\(d.name)")?.replacingOccurrences(of: "_", with: " ") ?? "" }
            outcomes[s.name] = KVMLinuxOutcome(run: result.guest, writtenSHA256: written[s.name] ?? [:], headAfterRun: heads,
                                               place: "nested-KVM lab")
        }
        return outcomes
    }
}

/// A runner started under a launcher such as `ip netns exec NAME`.
private struct LaunchedGuest: GuestRunner {
    let inner: SwiftdmRunGuest
    let launcher: [String]
    var defaultTimeout: Duration { inner.defaultTimeout }
    func commandLine() throws -> [String] { launcher + inner.commandLine() }
}
