/// A guest-kit guest under `qemu-system-x86_64` with vhost-user devices. Guest RAM is a shared
/// memfd, which vhost-user requires (the backend maps it from the passed fds).
public struct QemuGuest: GuestRunner {
    /// The QEMU machine type, which decides the virtio transport.
    public enum Machine: String, Sendable {
        /// PCI (`vhost-user-*-pci`).
        case q35
        /// virtio-mmio (`vhost-user-blk` etc. on microvm's MMIO bus, found via ACPI).
        case microvm
    }

    /// A device QEMU gives the guest.
    public enum Device: Sendable {
        /// vhost-user-blk on the backend at `socket`, with `queues` request queues; with
        /// `reconnect`, QEMU reconnects (every second) to a backend that went away and carries
        /// on where it stopped (with inflight tracking, resubmitting what was in flight).
        case blk(socket: String, queues: Int = 1, reconnect: Bool = false)
        /// vhost-user-rng on the backend at `socket`.
        case rng(socket: String)
        /// swiftdm's virtio-net over vhost-user (`-netdev vhost-user`), with `queues` queue
        /// pairs (`queues=N`, `mq=on`: the backend must serve as many).
        case net(socket: String, mac: String, queues: Int = 1)
        /// QEMU's own userspace virtio-net on tap `ifname` (`-netdev tap,vhost=off`), for
        /// comparisons; QEMU must run where the tap is (see ``QemuGuest/launcher``).
        case tapNet(ifname: String, mac: String, queues: Int = 1)
        /// QEMU's own virtio-gpu (2D) with a `width × height` preferred mode; the machine's
        /// VGA is then left out, so the GPU is the only display (``QemuGuest/vnc`` shows it).
        case gpu(width: Int, height: Int)
        /// QEMU's own virtio keyboard (virtio-input).
        case keyboard
        /// QEMU's own virtio tablet: absolute pointer positions (virtio-input).
        case tablet
        /// virtio-input on the vhost-user backend at `socket` (`vhost-user-input-pci`).
        case input(socket: String)
    }

    /// The kit whose kernel and initrd boot.
    public var kit: BuiltGuestKit
    /// The machine type; it decides the virtio transport.
    public var machine: Machine
    /// The devices, in the order QEMU creates them.
    public var devices: [Device]
    /// Shell script for `/init` to run.
    public var command: String
    /// Boot ``BuiltGuestKit/toolsInitrd`` (with `fio` and `iperf3`) instead of the small initrd.
    public var useToolsInitrd: Bool
    /// An initrd to boot instead of the kit's (such as a ``CommandInitrd``); `nil` for the kit's.
    public var initrdPath: String?
    /// Guest RAM in MiB (a shared memfd of that size).
    public var memoryMiB: Int
    /// vCPUs (`-smp`).
    public var cpus: Int
    /// Appended to the kernel command line before the command.
    public var extraKernelArguments: [String]
    /// A command QEMU runs under, such as `ip netns exec NAME` to put it in a network namespace.
    public var launcher: [String]
    /// KVM or TCG; ``QemuAccelerator/preferred`` unless set.
    public var accelerator: QemuAccelerator
    /// QEMU's VNC server (`-vnc`), such as `127.0.0.1:10` (display 10, port 5910); none when `nil`.
    public var vnc: String?
    /// Five minutes: a TCG boot with fio or iperf3 takes one to two.
    public var defaultTimeout: Duration { .seconds(300) }

    /// A guest booting `kit` on `machine` with `devices`, running `command`.
    public init(kit: BuiltGuestKit, machine: Machine = .q35, devices: [Device] = [], command: String,
                useToolsInitrd: Bool = false, memoryMiB: Int = 512, cpus: Int = 2,
                extraKernelArguments: [String] = [], launcher: [String] = [],
                accelerator: QemuAccelerator = .preferred) {
        self.kit = kit
        self.machine = machine
        self.devices = devices
        self.command = command
        self.useToolsInitrd = useToolsInitrd
        self.memoryMiB = memoryMiB
        self.cpus = cpus
        self.extraKernelArguments = extraKernelArguments
        self.launcher = launcher
        self.accelerator = accelerator
    }

    /// ``launcher`` followed by the QEMU command line.
    public func commandLine() -> [String] {
        var a = launcher + ["qemu-system-x86_64"] + accelerator.arguments + [
            "-m", "\(memoryMiB)", "-smp", "\(cpus)",
            "-nographic", "-no-reboot", "-nic", "none",
            "-object", "memory-backend-memfd,id=mem,size=\(memoryMiB)M,share=on",
        ]
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
            case .blk(let socket, let queues, let reconnect):
                // queue-size matches the ring size swiftdm's virtio-blk bases `seg_max` on
                // (QEMU's vhost-user-blk defaults to 128, and the config is read before the
                // ring size is known, so Linux could build chains longer than the ring).
                a += ["-chardev", "socket,id=vu\(i),path=\(socket)" + (reconnect ? ",reconnect=1" : ""),
                      "-device", "vhost-user-blk\(bus),chardev=vu\(i),num-queues=\(queues),queue-size=256"]
            case .rng(let socket):
                a += ["-chardev", "socket,id=vu\(i),path=\(socket)", "-device", "vhost-user-rng\(bus),chardev=vu\(i)"]
            case .net(let socket, let mac, let queues):
                a += ["-chardev", "socket,id=vu\(i),path=\(socket)",
                      "-netdev", "vhost-user,id=net\(i),chardev=vu\(i)" + (queues > 1 ? ",queues=\(queues)" : ""),
                      "-device", netDevice(netdev: "net\(i)", mac: mac) + (queues > 1 ? ",mq=on" : "")]
            case .tapNet(let ifname, let mac, let queues):
                a += ["-netdev", "tap,id=net\(i),ifname=\(ifname),script=no,downscript=no,vhost=off" + (queues > 1 ? ",queues=\(queues)" : ""),
                      "-device", netDevice(netdev: "net\(i)", mac: mac) + (queues > 1 ? ",mq=on" : "")]
            case .gpu(let width, let height):
                a += ["-vga", "none", "-device", (machine == .q35 ? "virtio-gpu-pci" : "virtio-gpu-device") + ",xres=\(width),yres=\(height)"]
            case .keyboard:
                a += ["-device", machine == .q35 ? "virtio-keyboard-pci" : "virtio-keyboard-device"]
            case .tablet:
                a += ["-device", machine == .q35 ? "virtio-tablet-pci" : "virtio-tablet-device"]
            case .input(let socket):
                a += ["-chardev", "socket,id=vu\(i),path=\(socket)", "-device", "vhost-user-input\(bus),chardev=vu\(i)"]
            }
        }
        if let vnc { a += ["-vnc", vnc] }
        // microvm has no HPET or ACPI PM timer and TCG's PIT fails Linux's TSC calibration,
        // after which the kernel hangs calibrating the APIC timer: give it the TSC rate.
        let clock = machine == .microvm && accelerator == .tcg ? ["tsc_early_khz=2000000"] : []
        let append = ["console=ttyS0", "quiet", "panic=-1"] + clock + extraKernelArguments + [GuestInit.commandArgument(command)]
        a += ["-kernel", kit.kernel, "-initrd", initrdPath ?? (useToolsInitrd ? (kit.toolsInitrd ?? kit.initrd) : kit.initrd),
              "-append", append.joined(separator: " ")]
        return a
    }

    /// The virtio-net front end for `netdev`. No option ROM (nothing boots from the network).
    /// On q35 under TCG the device uses INTx: with MSI-X, Debian's QEMU 7.2 segfaults at the
    /// driver's DRIVER_OK while vhost_net_start sets up the guest notifiers
    /// (`virtio_pci_set_guest_notifiers` → `msix_set_vector_notifiers`, before any ring is
    /// handed to the backend).
    private func netDevice(netdev: String, mac: String) -> String {
        switch machine {
        case .q35: "virtio-net-pci,netdev=\(netdev),mac=\(mac),romfile=" + (accelerator == .tcg ? ",vectors=0" : "")
        case .microvm: "virtio-net-device,netdev=\(netdev),mac=\(mac)"
        }
    }
}
