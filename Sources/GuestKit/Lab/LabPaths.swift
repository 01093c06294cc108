/// Where the nested-KVM lab puts things inside its L1 guest. Scenarios name these paths in
/// their `swiftdm run` command lines, since those run inside L1, not on the host.
public enum LabPaths {
    /// The lab's root directory in the L1 initramfs.
    public static let root = "/lab"
    /// The `swiftdm` executable (stripped), next to which nothing else is needed: its libraries
    /// sit at the absolute paths `ldd` printed on the host.
    public static let swiftdm = "/lab/bin/swiftdm"
    /// The L2 guest kit: Debian's cloud kernel and the kit's busybox initrd, as on the host;
    /// its `initrd-tools.img` adds only `iperf3` (which L1 has too, for network scenarios).
    public static let l2KitDirectory = "/lab/l2"
    /// The L2 graphics kit (``BuiltGuestKit/Variant/graphics``), when the lab carries one
    /// (``NestedKVMLab/graphicsKit``).
    public static let l2GraphicsKitDirectory = "/lab/l2-graphics"
    /// Where a scenario's L1 files live; the runner creates it.
    public static let files = "/lab/files"
    /// Files a scenario brings along (disk images): `/lab/files/NAME`, writable (the L1 root
    /// is a RAM file system), so what L2 writes stays there for the scenario's L1 checks.
    public static func file(_ name: String) -> String { "\(files)/\(name)" }
    /// QEMU, when the lab carries it (``NestedKVMLab/carriesQEMU``), at its host path with its
    /// libraries and firmware beside it at theirs.
    public static let qemu = "/usr/bin/qemu-system-x86_64"
    /// The firmware files QEMU's q35 and microvm machines read for a `-kernel` boot.
    static let qemuFirmware = [
        "/usr/share/seabios/bios-256k.bin", "/usr/share/qemu/bios-microvm.bin", "/usr/share/qemu/qboot.rom",
        "/usr/share/qemu/linuxboot_dma.bin", "/usr/share/qemu/kvmvapic.bin",
    ]
    /// What QEMU in L1 needs to be a display reference, carried when the host has it (at its
    /// host path, where QEMU looks): Debian builds virtio-gpu as loadable modules, and `-vnc`
    /// reads its keymap.
    static let qemuDisplayFiles = [
        "/usr/lib/x86_64-linux-gnu/qemu/hw-display-virtio-gpu.so", "/usr/lib/x86_64-linux-gnu/qemu/hw-display-virtio-gpu-pci.so",
        "/usr/share/qemu/keymaps/en-us",
    ]
    /// The scenario runner the L1 `/init` executes.
    static let runner = "/lab/run.sh"
    /// L1 setup (loading `kvm-amd`, checking `/dev/kvm`), sourced by the runner and the shell.
    static let setup = "/lab/setup.sh"
    /// L1's side of the host forward (``LabRunnerScript/network``), sourced by the runner and
    /// the shell when the lab has a forward.
    static let network = "/lab/network.sh"
}
