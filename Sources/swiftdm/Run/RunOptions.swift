import ArgumentParser
import DisplayOutputs
import Machine

/// `swiftdm run`'s command line, exactly as documented (tests and tools depend on the spellings).
/// Values stay strings here; ``configuration()`` turns them into the machine library's checked
/// ``PCConfiguration``, with one-line errors.
struct RunOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Linux bzImage to boot (64-bit boot protocol).", valueName: "path"))
    var kernel: String?

    @Option(help: ArgumentHelp("Initial ramdisk for --kernel.", valueName: "path"))
    var initrd: String?

    @Option(help: ArgumentHelp("Kernel command line for --kernel.", valueName: "string"))
    var append: String?

    @Option(help: ArgumentHelp("BIOS image to boot instead of a kernel.", valueName: "path"))
    var firmware: String?

    // `.unconditional`: the next word is the value even when it looks like an option, so
    // `--memory -1` gets the size message rather than "Missing value".
    @Option(parsing: .unconditional, help: ArgumentHelp("Guest RAM: a number with K, M, G or T (plain numbers are MiB).", valueName: "size"))
    var memory: String = "512M"

    @Option(help: ArgumentHelp("Number of vCPUs.", valueName: "n"))
    var cpus: String = "1"

    @Option(help: ArgumentHelp(
        "How virtio devices attach: pci (modern virtio-pci), pci-transitional (with the legacy interface) or mmio.",
        valueName: "pci|mmio"))
    var transport: String = "pci"

    @Option(help: ArgumentHelp("A virtio-blk disk; repeatable.", valueName: "path[,readonly=on][,serial=id][,transport=pci|mmio][,aio=io_uring|threads|inline][,cache=writeback|none][,poll-max-ns=N][,num-queues=N][,iothreads=N]"))
    var disk: [String] = []

    @Flag(help: "Add a virtio-rng device.")
    var rng = false

    @Option(help: ArgumentHelp("Guest console: serial (16550A UART) or virtio.", valueName: "serial|virtio"))
    var console: String = "serial"

    @Option(help: ArgumentHelp("A virtio-net device on a tap interface; repeatable.", valueName: "tap=name[,mac=mac][,queues=n]"))
    var net: [String] = []

    @Option(help: ArgumentHelp(
        "Any device of the catalogue: virtio-blk,file=PATH,… virtio-net,tap=NAME,… virtio-rng virtio-console,…; repeatable.",
        valueName: "name[,key=value…]"))
    var device: [String] = []

    @Option(help: ArgumentHelp(
        "A virtio-gpu 2D display; --gpu alone takes the defaults (one 1024x768 scanout).",
        valueName: "[width=W][,height=H][,scanouts=N][,max_hostmem=SIZE][,edid=on|off][,transport=…]"))
    var gpu: [String] = []

    @Option(help: ArgumentHelp("A virtio-input device fed by the VNC server; repeatable.", valueName: "keyboard|tablet|mouse[,transport=…]"))
    var input: [String] = []

    @Option(help: ArgumentHelp(
        "Serve the first scanout and the input devices over VNC (RFB 3.8): on a UNIX socket, or TCP port 5900+N (host defaults to localhost).",
        valueName: "unix=PATH|[HOST]:N"))
    var vnc: String?

    @Option(name: .customLong("vnc-password-file"), help: ArgumentHelp(
        "Require VNC authentication with the password in this file (its first line; VNC uses at most 8 characters).", valueName: "path"))
    var vncPasswordFile: String?

    @Option(name: .customLong("screenshot-on-exit"), help: ArgumentHelp(
        "When the machine stops, write the first scanout to this file (.png or .ppm).", valueName: "path"))
    var screenshotOnExit: String?

    @Option(help: ArgumentHelp(
        "Serve QMP (QEMU Machine Protocol) on a UNIX socket, as QEMU's -qmp: query-status, stop, cont, system_reset, system_powerdown, quit, query-block, block_resize, query-blockstats, query-pci, query-chardev, screendump, migrate (to file:DIR, a snapshot), query-migrate; repeatable.",
        valueName: "unix:PATH,server=on,wait=off"))
    var qmp: [String] = []

    @Option(help: ArgumentHelp(
        "Continue a machine saved by QMP `migrate` to file:DIR, in this new process; the rest of the command line must describe the same machine (RAM, vCPUs, devices, disks, taps).",
        valueName: "DIR"))
    var restore: String?

    @Flag(help: "Check the command line and its files, print the machine, and exit.")
    var check = false

    @Flag(help: ArgumentHelp(
        "Print the boot phases on stderr at the end: setup, vCPUs started, the guest's boot-complete signal (123 to port 0x3f0), its power-off."))
    var timings = false

    @Flag(help: ArgumentHelp(
        "Once the machine runs, allow only the system calls it needs (seccomp): no new files, sockets or processes."))
    var seccomp = false

    @Option(help: ArgumentHelp(
        "Where I/O exits go: kvm, or xen-sim (through a simulated Xen's ioreq pages and event channels to swiftdm's Xen ioreq server).",
        valueName: "kvm|xen-sim"))
    var ioreq: String = "kvm"

    /// The checked machine configuration and the exit path.
    func configuration() throws(MachineError) -> (PCConfiguration, IoreqChoice) {
        let boot: BootSource
        switch (kernel, firmware) {
        case (.some, .some):
            throw .conflictingOptions("--kernel and --firmware are mutually exclusive: boot either a kernel or firmware")
        case (nil, nil):
            throw .conflictingOptions("nothing to boot: give --kernel PATH or --firmware PATH")
        case (.some(let kernel), nil):
            boot = .kernel(path: kernel, initrd: initrd, commandLine: append ?? "")
        case (nil, .some(let firmware)):
            if initrd != nil { throw .conflictingOptions("--initrd needs --kernel (firmware loads its own)") }
            if append != nil { throw .conflictingOptions("--append needs --kernel (firmware has no command line)") }
            boot = .firmware(path: firmware)
        }
        let memory = try MemorySize(parsing: memory)
        guard let cpus = Int(cpus), (1...PCConfiguration.maximumCPUs).contains(cpus) else {
            throw .badValue(option: "--cpus", value: cpus, expected: "expected a number from 1 to \(PCConfiguration.maximumCPUs)")
        }
        let defaultTransport: VirtioTransportKind
        let serialConsole: Bool
        var devices: [(option: String, spec: VirtioDeviceSpec)] = []
        do throws(DeviceSpecError) {
            defaultTransport = try VirtioTransportKind(parsing: transport, option: "--transport")
            for text in disk { devices.append(("--disk", try .block(parsing: text, option: "--disk"))) }
            if rng { devices.append(("--rng", .entropy(EntropyDeviceSpec()))) }
            switch console {
            case "serial": serialConsole = true
            case "virtio":
                serialConsole = false
                devices.append(("--console", .console(ConsoleDeviceSpec(endpoint: .stdio))))
            default: throw DeviceSpecError(option: "--console", value: console, expected: "expected serial or virtio")
            }
            for text in net { devices.append(("--net", try .net(parsing: text, option: "--net"))) }
            for text in gpu { devices.append(("--gpu", try .gpu(parsing: text, option: "--gpu"))) }
            for text in input { devices.append(("--input", try .input(parsing: text, option: "--input"))) }
            for text in device { devices.append(("--device", try .device(parsing: text))) }
        } catch {
            throw .badDevice(error)
        }
        guard let exits = IoreqChoice(rawValue: ioreq) else {
            throw .badValue(option: "--ioreq", value: ioreq, expected: "expected kvm or xen-sim")
        }
        let configuration = PCConfiguration(
            boot: boot, memory: memory, cpus: cpus, defaultTransport: defaultTransport, devices: devices.map(\.spec),
            serialConsole: serialConsole)
        try configuration.validate()
        for (option, spec) in devices { try HostFiles.check(spec, option: option) }
        return (configuration, exits)
    }

    /// The `--qmp` socket paths, checked.
    func qmpSockets() throws(MachineError) -> [String] {
        let paths = try qmp.map { text throws(MachineError) in try QMPSocketOption.path(text) }
        // Accepting a client makes a socket and screendump writes a file: both are what the
        // running machine's filter forbids.
        if !paths.isEmpty && seccomp {
            throw .conflictingOptions("--qmp accepts connections and writes screendumps while the guest runs, which --seccomp forbids")
        }
        return paths
    }

    /// `--vnc` (with the password from `--vnc-password-file`) and `--screenshot-on-exit`, checked.
    func displayOutputs() throws(MachineError) -> (vnc: VNCConfiguration?, screenshot: String?) {
        if vncPasswordFile != nil, vnc == nil { throw .conflictingOptions("--vnc-password-file needs --vnc") }
        let server = try vnc.map { spec throws(MachineError) in try VNCOption.configuration(spec, passwordFile: vncPasswordFile) }
        if let path = screenshotOnExit {
            guard Screenshot.Format(path: path) != nil else {
                throw .badValue(option: "--screenshot-on-exit", value: path, expected: "expected a path ending in .png or .ppm")
            }
            // The running machine may not open files (--seccomp); the picture is written after
            // it stops, but the filter stays on the process.
            if seccomp { throw .conflictingOptions("--screenshot-on-exit writes a file after the run, which --seccomp forbids") }
        }
        return (server, screenshotOnExit)
    }
}
