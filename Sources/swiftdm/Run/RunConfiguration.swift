import CDeviceModelShims
#if canImport(Glibc)
import Glibc
#endif

/// What `swiftdm run` boots: a Linux kernel (with initrd and command line) or BIOS firmware.
enum BootSource: Hashable {
    case kernel(path: String, initrd: String?, commandLine: String)
    case firmware(path: String)
}

/// The checked form of ``RunOptions``: every value parsed and every file opened once, so bad
/// input fails here, before any VM or vCPU exists.
struct RunConfiguration: Hashable {
    /// QEMU's and Linux's practical limit for a PC machine with xAPIC IDs.
    static let maximumCPUs = 254

    var boot: BootSource
    var memory: MemorySize
    var cpus: Int
    var transport: VirtioTransportChoice
    var disks: [DiskSpec]
    var rng: Bool
    var console: ConsoleChoice
    var nets: [NetSpec]
    var ioreq: IoreqChoice

    /// Checks `options`; `checkFile` decides whether a path is usable (the default opens it).
    init(_ options: RunOptions, checkFile: (String, _ writable: Bool) -> String? = RunConfiguration.fileProblem) throws(RunError) {
        switch (options.kernel, options.firmware) {
        case (.some, .some):
            throw .conflictingOptions("--kernel and --firmware are mutually exclusive: boot either a kernel or firmware")
        case (nil, nil):
            throw .usage("nothing to boot: give --kernel PATH or --firmware PATH")
        case (.some(let kernel), nil):
            if let problem = checkFile(kernel, false) { throw .fileUnusable(option: "--kernel", path: kernel, reason: problem) }
            if let initrd = options.initrd, let problem = checkFile(initrd, false) {
                throw .fileUnusable(option: "--initrd", path: initrd, reason: problem)
            }
            if let append = options.append, append.utf8.contains(0) {
                throw .badValue(option: "--append", value: append, expected: "the command line cannot contain NUL")
            }
            boot = .kernel(path: kernel, initrd: options.initrd, commandLine: options.append ?? "")
        case (nil, .some(let firmware)):
            if options.initrd != nil { throw .conflictingOptions("--initrd needs --kernel (firmware loads its own)") }
            if options.append != nil { throw .conflictingOptions("--append needs --kernel (firmware has no command line)") }
            if let problem = checkFile(firmware, false) { throw .fileUnusable(option: "--firmware", path: firmware, reason: problem) }
            boot = .firmware(path: firmware)
        }
        memory = try MemorySize(parsing: options.memory)
        guard let n = Int(options.cpus), (1...Self.maximumCPUs).contains(n) else {
            throw .badValue(option: "--cpus", value: options.cpus, expected: "expected a number from 1 to \(Self.maximumCPUs)")
        }
        cpus = n
        transport = try VirtioTransportChoice(parsing: options.transport, option: "--transport")
        var disks: [DiskSpec] = []
        for text in options.disk {
            let d = try DiskSpec(parsing: text)
            if let problem = checkFile(d.path, !d.readOnly) {
                // A file the user may read but not write is usable read-only: say so.
                let hint = !d.readOnly && checkFile(d.path, false) == nil ? " (add readonly=on to use it read-only)" : ""
                throw .fileUnusable(option: "--disk", path: d.path, reason: problem + hint)
            }
            disks.append(d)
        }
        self.disks = disks
        rng = options.rng
        console = try ConsoleChoice(parsing: options.console)
        var nets: [NetSpec] = []
        for text in options.net {
            let n = try NetSpec(parsing: text)
            if let dup = nets.first(where: { $0.tap == n.tap }) {
                throw .conflictingOptions("--net tap=\(dup.tap) given twice")
            }
            nets.append(n)
        }
        self.nets = nets
        ioreq = try IoreqChoice(parsing: options.ioreq)
    }

    /// Why `path` cannot be used (opened read-only, or read-write when `writable`), or nil.
    static func fileProblem(_ path: String, writable: Bool) -> String? {
        let fd = swiftdm_open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC, 0)
        guard fd >= 0 else { return String(cString: strerror(errno)) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return String(cString: strerror(errno)) }
        let type = st.st_mode & S_IFMT
        guard type == S_IFREG || type == S_IFBLK else { return "not a regular file or block device" }
        return nil
    }
}
