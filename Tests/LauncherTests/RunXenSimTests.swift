import Foundation
import KVMGlue
import SwiftdmTestSupport
import Testing

/// `swiftdm run --ioreq xen-sim`: the same guests as ``RunCommandGuestTests``, but every
/// port-I/O and MMIO exit of every vCPU travels the Xen ioreq protocol — the simulated Xen
/// fills the vCPU's slot in the ioreq page and notifies its event channel, XenGlue's ioreq
/// server answers — and interrupts go through the simulated `set_isa_irq_level`/`inject_msi`.
/// `SWIFTDM_XEN_SIM_STATS` makes swiftdm report the server's counters, proving the path taken.
@Suite(.enabled(if: SwiftdmExecutable.path != nil && HostRequirements.guests, "needs swiftdm, /dev/kvm and nasm (see the SKIP lines)"), .serialized)
struct RunXenSimTests {
    struct Stats {
        var values: [String: Int] = [:]
        subscript(_ key: String) -> Int { values[key] ?? -1 }
    }

    func guestFile(_ name: String) throws -> String {
        _ = try GuestImages.image(name)
        return GuestImages.buildDirectory.appendingPathComponent("\(name).bin").path
    }

    /// Runs swiftdm with `arguments` and the statistics report enabled.
    func run(_ arguments: [String], timeout: Double = 120, stopWhen: String? = nil, input: String? = nil,
             environment: [String: String] = [:]) throws -> (SwiftdmExecutable.Outcome, Stats) {
        let statsPath = GuestImages.buildDirectory.appendingPathComponent("xen-sim-stats-\(UUID().uuidString)").path
        let outcome = try SwiftdmExecutable.run(
            arguments, environment: environment.merging(["SWIFTDM_XEN_SIM_STATS": statsPath]) { $1 },
            timeout: timeout, stopWhen: stopWhen, input: input)
        var stats = Stats()
        let text = (try? String(contentsOfFile: statsPath, encoding: .utf8)) ?? ""
        for field in text.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let kv = field.split(separator: "=")
            if kv.count == 2, let v = Int(kv[1]) { stats.values[String(kv[0])] = v }
        }
        try? FileManager.default.removeItem(atPath: statsPath)
        return (outcome, stats)
    }

    @Test func badIoreqValueIsOneLine() throws {
        let r = try SwiftdmExecutable.run(["run", "--firmware", try guestFile("halt"), "--ioreq", "xen"], timeout: 30)
        #expect(r.status == 2)
        #expect(r.stderrLines == ["swiftdm run: --ioreq 'xen': expected kvm or xen-sim"], "\(r.stderr)")
    }

    /// Port I/O (incl. `rep insb`/`rep outsb`), CF8/CFC turned into `IOREQ_TYPE_PCI_CONFIG`,
    /// ECAM MMIO as `IOREQ_TYPE_COPY`, CMOS: the same output as on the plain KVM path.
    @Test func platformGuest() throws {
        let (r, stats) = try run(["run", "--firmware", try guestFile("platform"), "--memory", "64M", "--ioreq", "xen-sim"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "platform guest\nfw_cfg QEMU\nconf1 12378086\necam 12378086 00001237\ncmos 00000300\n")
        #expect(r.stderr.isEmpty)
        #expect(stats["pcicfg"] >= 1, "\(stats.values)")
        #expect(stats["mmio"] >= 2, "\(stats.values)")
        #expect(stats["pio"] >= 50, "\(stats.values)")
        #expect(stats["faults"] == 0, "\(stats.values)")
    }

    /// UART input from stdin; the guest's reads of the receive register are ioreqs.
    @Test func serialEcho() throws {
        let (r, stats) = try run(["run", "--firmware", try guestFile("echo"), "--ioreq", "xen-sim"], timeout: 60, input: "hello, swiftdm.")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "type:\nHELLO, SWIFTDM.\n")
        #expect(stats["pio"] > 0)
    }

    /// The Linux boot protocol path: the loader writes the memfd-backed RAM KVM runs on.
    @Test func kernelBootProtocol() throws {
        let (r, _) = try run([
            "run", "--kernel", try guestFile("minikernel"), "--append", "console=ttyS0", "--memory", "128M", "--ioreq", "xen-sim",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("minikernel: boot_params at 00007000\ncmdline: console=ttyS0\n"), "\(r.stdout)")
    }

    /// SeaBIOS (2 vCPUs) probes the machine — PCI through IOREQ_TYPE_PCI_CONFIG, fw_cfg, CMOS —
    /// and reaches its boot menu on both paths; ISA interrupts reach the guest through
    /// `set_isa_irq_level`. Prints both times.
    @Test func seaBIOSOnBothPaths() throws {
        let bios = "/usr/share/seabios/bios.bin"
        guard FileManager.default.fileExists(atPath: bios) else {
            print("SKIP: seaBIOSOnBothPaths needs \(bios) (apt-get install seabios)")
            return
        }
        var seconds: [String: Double] = [:]
        for mode in ["kvm", "xen-sim"] {
            let log = GuestImages.buildDirectory.appendingPathComponent("seabios-\(mode).log").path
            let start = Date()
            let (r, stats) = try run(
                ["run", "--firmware", bios, "--memory", "256M", "--cpus", "2", "--ioreq", mode],
                timeout: 180, stopWhen: "No bootable device", environment: ["SWIFTDM_DEBUGCON": log])
            seconds[mode] = Date().timeIntervalSince(start)
            #expect(r.stdout.contains("SeaBIOS (version"), "\(mode) serial: \(r.stdout)")
            #expect(r.stdout.contains("No bootable device"), "\(mode) serial: \(r.stdout)")
            let debug = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            #expect(debug.contains("Found 2 cpu(s)"), "\(mode)")
            #expect(debug.contains("Running on QEMU (i440fx)"), "\(mode)")
            if mode == "xen-sim" {
                #expect(stats["pcicfg"] > 50, "\(stats.values)")
                #expect(stats["interrupts"] > 0, "\(stats.values)")
                #expect(stats["faults"] == 0, "\(stats.values)")
            }
        }
        print(String(format: "BENCH: SeaBIOS to \"No bootable device\" (2 vCPUs, 256M): kvm %.1f s, xen-sim %.1f s",
                     seconds["kvm"] ?? 0, seconds["xen-sim"] ?? 0))
    }

    /// The polled virtio-blk test guest over modern and transitional virtio-pci: every config,
    /// BAR and notify access is an ioreq (no KVM ioeventfd in this mode), the device reads and
    /// writes the backend's foreign-mapped guest memory, and the MSI-X completions reach the
    /// guest's handler through the simulated `xendevicemodel_inject_msi`.
    @Test(arguments: ["pci", "pci-transitional"])
    func virtioPCIBlockGuest(transport: String) throws {
        let disk = try RunCommandGuestTests().patternDisk("xsim-vpci-\(transport)")
        defer { try? FileManager.default.removeItem(atPath: disk) }
        let (r, stats) = try run([
            "run", "--firmware", try guestFile("virtio-pci-blk"), "--memory", "64M",
            "--disk", "\(disk),serial=swiftdm-disk0,transport=\(transport)", "--ioreq", "xen-sim",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == RunCommandGuestTests.virtioPCIBlockTranscript(transport: transport))
        try RunCommandGuestTests().expectWrittenPattern(disk)
        print("STATS: xen-sim virtio-pci-blk \(transport): \(stats.values.sorted { $0.key < $1.key })")
        #expect(stats["pcicfg"] > 0, "\(stats.values)")
        // The guest drives the modern interface on both (notifies are MMIO writes to BAR 4).
        #expect(stats["mmio"] > 0, "\(stats.values)")
        #expect(stats["msis"] >= 3, "\(stats.values)")
        #expect(stats["faults"] == 0, "\(stats.values)")
    }

    /// The polled virtio-blk test guest over virtio-mmio: register and notify accesses are
    /// `IOREQ_TYPE_COPY` requests.
    @Test func virtioMMIOBlockGuest() throws {
        let disk = try RunCommandGuestTests().patternDisk("xsim-vmmio")
        defer { try? FileManager.default.removeItem(atPath: disk) }
        let (r, stats) = try run([
            "run", "--firmware", try guestFile("virtio-mmio-blk"), "--memory", "64M",
            "--disk", "\(disk),serial=mmio-disk,transport=mmio", "--ioreq", "xen-sim",
        ])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == RunCommandGuestTests.virtioMMIOBlockTranscript)
        try RunCommandGuestTests().expectWrittenPattern(disk)
        print("STATS: xen-sim virtio-mmio-blk: \(stats.values.sorted { $0.key < $1.key })")
        #expect(stats["mmio"] > 20, "\(stats.values)")
        #expect(stats["faults"] == 0, "\(stats.values)")
    }

    /// SeaBIOS finds swiftdm's virtio-blk through `IOREQ_TYPE_PCI_CONFIG`, drives it through
    /// ioreqs and boots its MBR, which reads 64 sectors through int 13h and prints their sum.
    @Test(arguments: ["pci", "pci-transitional"])
    func seaBIOSBootsMBRFromVirtioBlock(transport: String) throws {
        let bios = "/usr/share/seabios/bios.bin"
        guard FileManager.default.fileExists(atPath: bios) else {
            print("SKIP: seaBIOSBootsMBRFromVirtioBlock (xen-sim) needs \(bios) (apt-get install seabios)")
            return
        }
        let mbrDisk = try MBRTestDisk(name: "xsim-mbr-\(transport)")
        let disk = mbrDisk.path
        defer { try? FileManager.default.removeItem(atPath: disk) }
        let start = Date()
        let (r, stats) = try run(["run", "--firmware", bios, "--disk", "\(disk),transport=\(transport)", "--ioreq", "xen-sim"],
                                 timeout: 240)
        let elapsed = Date().timeIntervalSince(start)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("MBR: loaded\r\nMBR: checksum \(mbrDisk.checksum)\r\n"), "\(r.stdout)")
        print("STATS: xen-sim SeaBIOS MBR boot, virtio-blk \(transport): \(stats.values.sorted { $0.key < $1.key })")
        #expect(stats["pcicfg"] > 50, "\(stats.values)")
        #expect(stats["pio"] > 0, "\(stats.values)")
        // SeaBIOS prefers the modern interface when the device offers it (BAR 4 MMIO).
        #expect(stats["mmio"] > 0, "\(stats.values)")
        #expect(stats["faults"] == 0, "\(stats.values)")
        print("BENCH: SeaBIOS under xen-sim from reset to the MBR's power-off, virtio-blk \(transport): \(String(format: "%.1f", elapsed)) s")
    }

    /// Per-exit cost seen by the guest (ACPI PM timer), plain KVM next to xen-sim; best of 3
    /// runs each, the empty loop subtracted. Prints numbers, asserts only that the runs worked.
    @Test func exitCostKVMAndXenSim() throws {
        let rounds = 4000.0
        var best: [String: [String: Double]] = [:]
        for _ in 0..<3 {
            for mode in ["kvm", "xen-sim"] {
                let (r, _) = try run(["run", "--firmware", try guestFile("ioloop"), "--memory", "64M", "--ioreq", mode], timeout: 120)
                #expect(r.status == 0, "\(mode): \(r.stderr)")
                var ticks: [String: Double] = [:]
                for line in r.stdout.split(separator: "\n") {
                    let parts = line.split(separator: " ")
                    if parts.count == 2, let v = UInt32(parts[1], radix: 16) { ticks[String(parts[0])] = Double(v) }
                }
                guard let empty = ticks["empty"], let pio = ticks["pio"], let mmio = ticks["mmio"] else {
                    Issue.record("\(mode): \(r.stdout)")
                    continue
                }
                // PM timer ticks at 3.579545 MHz → µs per access.
                let us = { (t: Double) in (t - empty) / 3.579545 / rounds }
                best[mode, default: [:]]["pio"] = min(best[mode]?["pio"] ?? .infinity, us(pio))
                best[mode, default: [:]]["mmio"] = min(best[mode]?["mmio"] ?? .infinity, us(mmio))
            }
        }
        for kind in ["pio", "mmio"] {
            print(String(format: "BENCH: %@ read exit as the guest sees it: kvm %.1f µs, xen-sim (ioreq round trip) %.1f µs",
                         kind == "pio" ? "PIO " : "MMIO", best["kvm"]?[kind] ?? 0, best["xen-sim"]?[kind] ?? 0))
        }
    }
}
