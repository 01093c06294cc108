/// The lab's machine: Xen 4.17 and dom0 under QEMU TCG. QEMU emulates AMD SVM with nested
/// paging for `-cpu max`, so Xen offers HVM guests inside it. Xen boots from `-kernel` (its
/// multiboot ELF); dom0's kernel and initramfs are the multiboot modules (`-initrd "kernel
/// ARGS,initramfs"`). Xen's console and dom0's (`hvc0`, through Xen) share the serial port.
struct XenLabMachine: GuestRunner {
    /// The uncompressed hypervisor (``XenLabParts/hypervisor``).
    var hypervisor: String
    /// dom0's kernel (``XenLabParts/dom0Kernel``).
    var dom0Kernel: String
    /// dom0's initramfs (uncompressed cpio).
    var initramfs: String
    /// Extra words for dom0's kernel command line (such as ``XenLabScripts/shellParameter``).
    var dom0Arguments: [String] = []
    /// Machine RAM: dom0's 1 GiB plus the HVM guests'.
    var memoryMiB = 3072
    /// See ``XenLab/cpus``.
    var cpus = 1
    var defaultTimeout: Duration

    /// Xen's command line. `conring_size=4M`: the scenarios read guests' debug-port lines back
    /// from `xl dmesg`, and Xen's default console ring (tens of KiB) wraps over a run's
    /// firmware logs. `smap=0`: under QEMU TCG, dom0 dies at its first instruction with
    /// SMAP ("#PF … fault at create_bounce_frame"); `guest_loglvl=all` keeps HVM guests' debug
    /// port lines in `xl dmesg`.
    static let xenArguments = ["console=com1", "com1=115200", "dom0_mem=1G", "smap=0", "loglvl=all", "guest_loglvl=all", "conring_size=4M"]
    /// dom0's kernel command line before ``dom0Arguments``.
    static let dom0BaseArguments = ["console=hvc0", "earlyprintk=xen", "quiet"]

    func commandLine() throws -> [String] {
        for path in [dom0Kernel, initramfs] where path.contains(",") { throw XenLabError.pathWithComma(path) }
        let dom0 = ([dom0Kernel] + Self.dom0BaseArguments + dom0Arguments).joined(separator: " ")
        return ["qemu-system-x86_64", "-accel", "tcg,thread=multi", "-cpu", "max", "-M", "q35",
                "-m", "\(memoryMiB)", "-smp", "\(cpus)", "-nographic", "-no-reboot", "-monitor", "none", "-serial", "stdio", "-nic", "none",
                "-kernel", hypervisor, "-append", Self.xenArguments.joined(separator: " "),
                "-initrd", dom0 + "," + initramfs]
    }
}
