import ArgumentParser

/// `swiftdm run`'s command line, exactly as documented (tests and tools depend on the spellings).
/// Values stay strings here; ``RunConfiguration`` turns them into checked values with one-line
/// errors.
struct RunOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Linux bzImage to boot (64-bit boot protocol).", valueName: "path"))
    var kernel: String?

    @Option(help: ArgumentHelp("Initial ramdisk for --kernel.", valueName: "path"))
    var initrd: String?

    @Option(help: ArgumentHelp("Kernel command line for --kernel.", valueName: "string"))
    var append: String?

    @Option(help: ArgumentHelp("BIOS image to boot instead of a kernel.", valueName: "path"))
    var firmware: String?

    @Option(help: ArgumentHelp("Guest RAM: a number with K, M, G or T (plain numbers are MiB).", valueName: "size"))
    var memory: String = "512M"

    @Option(help: ArgumentHelp("Number of vCPUs.", valueName: "n"))
    var cpus: String = "1"

    @Option(help: ArgumentHelp(
        "How virtio devices attach: pci (modern virtio-pci), pci-transitional (with the legacy interface) or mmio.",
        valueName: "pci|mmio"))
    var transport: String = "pci"

    @Option(help: ArgumentHelp("A virtio-blk disk; repeatable.", valueName: "path[,readonly=on][,serial=id][,transport=pci|mmio]"))
    var disk: [String] = []

    @Flag(help: "Add a virtio-rng device.")
    var rng = false

    @Option(help: ArgumentHelp("Guest console: serial (16550A UART) or virtio.", valueName: "serial|virtio"))
    var console: String = "serial"

    @Option(help: ArgumentHelp("A virtio-net device on a tap interface; repeatable.", valueName: "tap=name[,mac=mac]"))
    var net: [String] = []

    @Option(help: ArgumentHelp(
        "Where I/O exits go: kvm, or xen-sim (through a simulated Xen's ioreq pages and event channels to swiftdm's Xen ioreq server).",
        valueName: "kvm|xen-sim"))
    var ioreq: String = "kvm"
}
