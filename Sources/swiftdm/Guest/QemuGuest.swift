import Foundation

/// A guest-kit guest under `qemu-system-x86_64` with vhost-user devices. Guest RAM is a
/// shared memfd, which vhost-user requires (the backend maps it from the passed fds).
struct QemuGuest {
    enum Machine: String, Sendable {
        /// PCI (`vhost-user-*-pci`).
        case q35
        /// virtio-mmio (`vhost-user-blk` etc. on microvm's MMIO bus, found via ACPI).
        case microvm
    }

    enum Device: Sendable {
        case blk(socket: String, queues: Int = 1)
        case rng(socket: String)
        /// swiftdm's virtio-net over vhost-user (`-netdev vhost-user`).
        case net(socket: String, mac: String)
        /// QEMU's own userspace virtio-net on tap `ifname` (`-netdev tap,vhost=off`), for
        /// comparisons; QEMU must run where the tap is (see ``launcher``).
        case tapNet(ifname: String, mac: String)
    }

    var kit: BuiltGuestKit
    var machine: Machine = .q35
    var devices: [Device] = []
    /// Shell script for `/init` to run.
    var command: String
    var useToolsInitrd = false
    var memoryMiB = 512
    var cpus = 2
    var extraKernelArguments: [String] = []
    /// A command QEMU runs under, such as `ip netns exec NAME` to put it in a network namespace.
    var launcher: [String] = []

    /// `kvm` where the host's KVM runs unmodified guests natively; `tcg` otherwise
    /// (including PVM nested KVM, /sys/module/kvm_pvm, which would emulate every instruction).
    static var accelerator: String {
        let fm = FileManager.default
        let kvmUsable = fm.isReadableFile(atPath: "/dev/kvm") && fm.isWritableFile(atPath: "/dev/kvm")
        return kvmUsable && !fm.fileExists(atPath: "/sys/module/kvm_pvm") ? "kvm" : "tcg"
    }

    var arguments: [String] {
        let accel = Self.accelerator
        var a = ["qemu-system-x86_64",
                 "-accel", accel == "kvm" ? "kvm" : "tcg,thread=multi",
                 "-cpu", accel == "kvm" ? "host" : "max",
                 "-m", "\(memoryMiB)", "-smp", "\(cpus)",
                 "-nographic", "-no-reboot", "-nic", "none",
                 "-object", "memory-backend-memfd,id=mem,size=\(memoryMiB)M,share=on"]
        switch machine {
        case .q35:
            a += ["-M", "q35", "-numa", "node,memdev=mem"]
        case .microvm:
            // microvm's virtio-mmio defaults to legacy, which vhost-user backends do not serve.
            a += ["-M", "microvm,memory-backend=mem", "-global", "virtio-mmio.force-legacy=false"]
        }
        let bus = machine == .q35 ? "-pci" : ""
        for (i, d) in devices.enumerated() {
            switch d {
            case .blk(let socket, let queues):
                // queue-size matches the ring size swiftdm's virtio-blk bases `seg_max` on
                // (QEMU's vhost-user-blk defaults to 128, and the config is read before the
                // ring size is known, so Linux could build chains longer than the ring).
                a += ["-chardev", "socket,id=vu\(i),path=\(socket)",
                      "-device", "vhost-user-blk\(bus),chardev=vu\(i),num-queues=\(queues),queue-size=256"]
            case .rng(let socket):
                a += ["-chardev", "socket,id=vu\(i),path=\(socket)", "-device", "vhost-user-rng\(bus),chardev=vu\(i)"]
            case .net(let socket, let mac):
                a += ["-chardev", "socket,id=vu\(i),path=\(socket)", "-netdev", "vhost-user,id=net\(i),chardev=vu\(i)",
                      "-device", netDevice(netdev: "net\(i)", mac: mac, accelerator: accel)]
            case .tapNet(let ifname, let mac):
                a += ["-netdev", "tap,id=net\(i),ifname=\(ifname),script=no,downscript=no,vhost=off",
                      "-device", netDevice(netdev: "net\(i)", mac: mac, accelerator: accel)]
            }
        }
        // microvm has no HPET or ACPI PM timer and TCG's PIT fails Linux's TSC calibration,
        // after which the kernel hangs calibrating the APIC timer: give it the TSC rate.
        let clock = machine == .microvm && accel == "tcg" ? ["tsc_early_khz=2000000"] : []
        let append = ["console=ttyS0", "quiet", "panic=-1"] + clock + extraKernelArguments + [GuestInit.commandArgument(command)]
        a += ["-kernel", kit.kernel, "-initrd", useToolsInitrd ? (kit.toolsInitrd ?? kit.initrd) : kit.initrd,
              "-append", append.joined(separator: " ")]
        return a
    }

    /// The virtio-net front end for `netdev`. No option ROM (nothing boots from the network).
    /// On q35 under TCG the device uses INTx: with MSI-X, Debian's QEMU 7.2 segfaults at the
    /// driver's DRIVER_OK while vhost_net_start sets up the guest notifiers
    /// (`virtio_pci_set_guest_notifiers` → `msix_set_vector_notifiers`, before any ring is
    /// handed to the backend).
    private func netDevice(netdev: String, mac: String, accelerator: String) -> String {
        switch machine {
        case .q35: "virtio-net-pci,netdev=\(netdev),mac=\(mac),romfile=" + (accelerator == "tcg" ? ",vectors=0" : "")
        case .microvm: "virtio-net-device,netdev=\(netdev),mac=\(mac)"
        }
    }

    /// Starts QEMU; the caller waits on or kills the returned process.
    func start(echo: (@Sendable (String) -> Void)? = nil) throws -> ConsoleProcess {
        try ConsoleProcess(launcher + arguments, echo: echo)
    }

    /// Boots, runs the command, and returns what the guest printed (QEMU killed at `timeout`).
    func run(timeout: Duration = .seconds(300), echo: (@Sendable (String) -> Void)? = nil) throws -> GuestRun {
        let started = ContinuousClock.now
        let p = try start(echo: echo)
        if !p.waitForExit(timeout: timeout) { p.kill() }
        let wall = ContinuousClock.now - started
        return GuestRun(console: p.output, wallSeconds: Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18)
    }
}
