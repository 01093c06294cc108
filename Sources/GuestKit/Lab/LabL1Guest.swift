/// The lab's L1: the guest kit's kernel under QEMU TCG with `-cpu max`, whose emulated AMD SVM
/// with nested paging lets Debian's `kvm-amd` offer a hardware-style `/dev/kvm` inside it.
struct LabL1Guest: GuestRunner {
    /// The kit's kernel.
    var kernel: String
    /// The kit's initrd followed by the lab's archive.
    var initrd: String
    /// What the kit's `/init` runs; a shell on the console when `nil`.
    var command: String?
    /// L1 RAM: the initramfs (~250 MB, held twice while it unpacks) plus each L2's RAM.
    var memoryMiB = 3072
    /// Two, so an L2 with two vCPUs runs them in parallel.
    var cpus = 2
    var defaultTimeout: Duration
    /// A host port QEMU's user-mode network forwards to an L1 port, on a virtio-net NIC.
    var forward: NestedKVMLab.TCPForward?

    func commandLine() -> [String] {
        let append = ["console=ttyS0", "quiet", "panic=-1"] + (command.map { [GuestInit.commandArgument($0)] } ?? [])
        return ["qemu-system-x86_64", "-accel", "tcg,thread=multi", "-cpu", "max", "-M", "q35",
                "-m", "\(memoryMiB)", "-smp", "\(cpus)", "-nographic", "-no-reboot", "-nic", "none",
                "-kernel", kernel, "-initrd", initrd, "-append", append.joined(separator: " ")] + network
    }

    /// `-netdev user` with the forward (L1 is 10.0.2.15, user-mode networking's first guest
    /// address), on a virtio-net NIC without an option ROM (nothing boots from it).
    private var network: [String] {
        guard let forward else { return [] }
        return ["-netdev", "user,id=lab0,hostfwd=tcp:127.0.0.1:\(forward.hostPort)-\(NestedKVMLab.TCPForward.l1Address):\(forward.l1Port)",
                "-device", "virtio-net-pci,netdev=lab0,romfile="]
    }
}
