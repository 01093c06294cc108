/// Everything that defines a PC before it is built: what it boots, its RAM and vCPUs, and its
/// virtio devices. A small value, checked by ``validate()``; ``PCMachine`` builds it.
///
/// ```swift
/// var config = PCConfiguration(boot: .kernel(path: "vmlinuz", initrd: "initrd.img", commandLine: "console=ttyS0"))
/// config.memory = MemorySize(bytes: 512 << 20)
/// config.devices = [.block(BlockDeviceSpec(path: "disk.img")), .entropy(EntropyDeviceSpec())]
/// ```
public struct PCConfiguration: Hashable, Sendable {
    /// QEMU's and Linux's practical limit for a PC machine with xAPIC IDs.
    public static let maximumCPUs = 254

    public var boot: BootSource
    public var memory: MemorySize
    public var cpus: Int
    /// The transport of devices that do not name one.
    public var defaultTransport: VirtioTransportKind
    /// The virtio devices, in the order they are attached (PCI slots from 1, virtio-mmio windows
    /// from the first).
    public var devices: [VirtioDeviceSpec]
    /// Whether COM1 is the guest's console (SeaBIOS is told to use it through fw_cfg).
    public var serialConsole: Bool

    /// Scanouts the machine's ``Display/GuestDisplay`` needs: its virtio-gpu's, or 0 when it has
    /// no display device at all (no screens, no input).
    public var scanoutCount: Int {
        var count = 0
        for d in devices {
            switch d {
            case .gpu(let g): count = max(count, g.scanouts)
            case .input: count = max(count, 1)
            default: break
            }
        }
        return count
    }

    public init(
        boot: BootSource, memory: MemorySize = MemorySize(bytes: 512 << 20), cpus: Int = 1,
        defaultTransport: VirtioTransportKind = .pci, devices: [VirtioDeviceSpec] = [], serialConsole: Bool = true
    ) {
        self.boot = boot
        self.memory = memory
        self.cpus = cpus
        self.defaultTransport = defaultTransport
        self.devices = devices
        self.serialConsole = serialConsole
    }

    /// Checks what can be checked before anything is built: the vCPU count, the boot files,
    /// a kernel command line without NUL, taps named once.
    public func validate() throws(MachineError) {
        guard (1...Self.maximumCPUs).contains(cpus) else {
            throw .badValue(option: "--cpus", value: "\(cpus)", expected: "expected a number from 1 to \(Self.maximumCPUs)")
        }
        if devices.filter({ if case .gpu = $0 { true } else { false } }).count > 1 {
            throw .conflictingOptions("one virtio-gpu per machine (give it scanouts=N for several screens)")
        }
        switch boot {
        case .kernel(let kernel, let initrd, let commandLine):
            if let problem = HostFiles.problem(kernel, writable: false) { throw .fileUnusable(option: "--kernel", path: kernel, reason: problem) }
            if let initrd, let problem = HostFiles.problem(initrd, writable: false) {
                throw .fileUnusable(option: "--initrd", path: initrd, reason: problem)
            }
            if commandLine.utf8.contains(0) {
                throw .badValue(option: "--append", value: commandLine, expected: "the command line cannot contain NUL")
            }
        case .firmware(let firmware):
            if let problem = HostFiles.problem(firmware, writable: false) {
                throw .fileUnusable(option: "--firmware", path: firmware, reason: problem)
            }
        }
        var taps: Set<String> = []
        for case .net(let net) in devices {
            guard taps.insert(net.tap).inserted else { throw .conflictingOptions("--net tap=\(net.tap) given twice") }
        }
    }
}
