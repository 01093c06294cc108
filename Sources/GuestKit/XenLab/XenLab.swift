import Foundation

/// Real Xen 4.17 with a Debian dom0, booted under QEMU TCG (``XenLabMachine``), where `xl create`
/// starts HVM guests whose device model is `swiftdm` (through `device_model_override`) or
/// Debian's qemu-xen — the lab for swiftdm's Xen backend on a host without Xen.
///
/// dom0's initramfs holds busybox, Xen's userland and libraries, `qemu-system-xen`, SeaBIOS,
/// the Xen kernel modules, the `swiftdm` executable at ``XenLabPaths/swiftdm`` with every
/// library `ldd` lists, and the scenarios' scripts and files (in `/root`). ``run(_:echo:)``
/// boots once for a list of scenarios and returns each one's output, status and time;
/// ``shell(files:)`` gives a developer dom0's shell.
///
/// Xen and dom0 take ~20–40 s to get ready under TCG on a loaded two-core host; an HVM guest
/// reaches SeaBIOS in seconds, a Linux guest its `/init` in one to one and a half minutes.
/// Batch scenarios into one run.
public struct XenLab: Sendable {
    /// The unpacked Debian parts.
    public let parts: XenLabParts
    /// The `swiftdm` executable to carry into dom0.
    public let swiftdm: String
    /// Where the lab writes its initramfs (the caller removes it).
    public let workDirectory: String
    /// The machine's CPUs (QEMU's `-smp`): Xen's physical CPUs, shared by dom0 and the guests.
    ///
    /// One by default. With two (QEMU's multi-threaded TCG running two vCPU threads), dom0's
    /// programs segfaulted or aborted and HVM guests triple-faulted now and then — in two of
    /// five runs on a loaded two-core host, e.g. `xl` dying while it listed domains and a Linux
    /// guest faulting while it hashed its disk; with one, none did, and the whole six-scenario
    /// run took 221 s instead of 269–450 s.
    public var cpus = 1
    private let log: @Sendable (String) -> Void

    /// How long the console may stay silent before the run counts as stalled and QEMU is killed.
    static let stallLimit = Duration.seconds(300)

    /// Programs whose libraries must all resolve; a library missing for any other program of
    /// the tree is only logged.
    static let essentialPrograms = ["usr/lib/xen-4.17/bin/xl", "usr/lib/xen-4.17/bin/xenstored",
                                    "usr/lib/xen-4.17/bin/xen-init-dom0", "usr/libexec/xen-qemu-system-i386"]
    /// Parts of the unpacked tree dom0 does not need.
    static let excludedTreePaths = ["boot", "usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/lintian",
                                    "usr/share/bash-completion", "usr/include"]

    /// A lab carrying `swiftdm`, writing into `workDirectory`.
    ///
    /// - Throws: ``GuestKitError/toolMissing(tool:package:)`` when QEMU or `ldd` is missing.
    public init(parts: XenLabParts, swiftdm: String, workDirectory: String, log: @escaping @Sendable (String) -> Void = { _ in }) throws {
        try HostCommand.require("qemu-system-x86_64", package: "qemu-system-x86")
        try HostCommand.require("ldd", package: "libc-bin")
        self.parts = parts
        self.swiftdm = swiftdm
        self.workDirectory = workDirectory
        self.log = log
    }

    /// The archive of everything but the scenarios, written once per work directory.
    var baseArchive: String { workDirectory + "/dom0-base.cpio" }

    /// Boots Xen and dom0 once and runs `scenarios` in order.
    ///
    /// - Parameter echo: Receives the console as it arrives (for verbose runs).
    /// - Throws: ``XenLabError/noHVM(reason:)`` when Xen offers no HVM guests;
    ///   ``XenLabError/dom0NotReady(status:console:)`` when the toolstack never got ready;
    ///   other ``XenLabError``s and ``GuestKitError``s for a lab that cannot be built.
    public func run(_ scenarios: [XenLabScenario], echo: (@Sendable (String) -> Void)? = nil) throws -> XenLabRun {
        var names: Set<String> = []
        for s in scenarios {
            guard !s.name.isEmpty, s.name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }), names.insert(s.name).inserted else {
                throw XenLabError.badScenarioName(s.name)
            }
        }
        // Xen and dom0, each scenario up to its timeout plus its clean-up, dom0's power-off.
        let budget = scenarios.reduce(Duration.seconds(240)) { $0 + $1.timeout + .seconds(20) }
        let initramfs = try prepare(scenarios: scenarios, watchdog: budget - .seconds(10))
        let machine = XenLabMachine(hypervisor: parts.hypervisor, dom0Kernel: parts.dom0Kernel, initramfs: initramfs,
                                    cpus: cpus, defaultTimeout: budget)
        log("booting Xen and dom0 (QEMU TCG, \(cpus) CPUs) for \(scenarios.count) scenario(s): \(scenarios.map(\.name).joined(separator: " "))")
        let started = ContinuousClock.now
        let process = try machine.start(echo: echo)
        // Killed at the budget, or when the console stays silent for `stallLimit`: a machine
        // that prints nothing that long has stopped (QEMU's TCG was seen deadlocking), since
        // Xen logs every line the guests' firmware prints and no scenario wait is that long.
        var lastLength = 0
        var lastChange = ContinuousClock.now
        var stalled = false
        while !process.waitForExit(timeout: .seconds(5)) {
            let length = process.output.utf8.count
            if length != lastLength {
                lastLength = length
                lastChange = .now
            } else if ContinuousClock.now - lastChange > Self.stallLimit {
                stalled = true
                log("the console has been silent for \(Self.stallLimit); killing QEMU")
                process.kill()
                break
            }
            if ContinuousClock.now - started > budget {
                log("the run outlasted its budget of \(budget); killing QEMU")
                process.kill()
                break
            }
        }
        let status = process.isRunning ? nil : process.exitStatus
        let run = XenLabRun(console: process.output, wallSeconds: (ContinuousClock.now - started).seconds, hostStatus: status,
                            stalled: stalled)
        if let reason = run.noHVMReason { throw XenLabError.noHVM(reason: reason) }
        guard run.dom0ReadyUptime != nil else {
            throw XenLabError.dom0NotReady(status: status, console: String(run.console.suffix(6000)))
        }
        return run
    }

    /// Boots Xen and dom0 with a root shell on this process's terminal (the caller's standard
    /// input and output); returns QEMU's exit status. `files` are copied into `/root`. Leave
    /// with `poweroff -f`.
    public func shell(files: [XenLabScenario.File] = []) throws -> Int32 {
        let initramfs = try prepare(scenarios: [XenLabScenario(name: "shell", script: "", files: files)], watchdog: .seconds(86_400))
        let machine = XenLabMachine(hypervisor: parts.hypervisor, dom0Kernel: parts.dom0Kernel, initramfs: initramfs,
                                    dom0Arguments: [XenLabScripts.shellParameter], cpus: cpus, defaultTimeout: .seconds(86_400))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = try machine.commandLine()
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Writes dom0's initramfs for `scenarios` and returns its path: the base archive (built
    /// once per work directory) followed by an archive with `/init`, the runner, the scenario
    /// scripts and their files.
    func prepare(scenarios: [XenLabScenario], watchdog: Duration) throws -> String {
        try FileManager.default.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: baseArchive) { try writeBaseArchive() }

        var placed: [String: String] = [:]
        for s in scenarios {
            for f in s.files {
                if let other = placed[f.dom0Path], other != f.hostPath {
                    throw XenLabError.conflictingFile(dom0Path: f.dom0Path, hostPaths: [other, f.hostPath])
                }
                placed[f.dom0Path] = f.hostPath
            }
        }
        let scenarioArchive = workDirectory + "/dom0-scenarios.cpio"
        let cpio = try CpioArchive(writingTo: scenarioArchive)
        cpio.file("init", contents: Data(XenLabScripts.initScript(watchdogSeconds: Int(watchdog.components.seconds)).utf8), mode: 0o755)
        cpio.file(String(XenLabPaths.runner.dropFirst()), contents: Data(XenLabScripts.runner(for: scenarios).utf8), mode: 0o755)
        cpio.file(String(XenLabPaths.functions.dropFirst()), contents: Data(XenLabScripts.functions.utf8), mode: 0o644)
        for s in scenarios {
            cpio.file(String(XenLabPaths.scenarioScript(s.name).dropFirst()), contents: Data(s.script.utf8), mode: 0o755)
        }
        for (dom0Path, hostPath) in placed.sorted(by: { $0.key < $1.key }) {
            try cpio.copy(hostFile: hostPath, to: String(dom0Path.dropFirst()))
        }
        try cpio.finish()

        let initramfs = workDirectory + "/dom0-initramfs.cpio"
        _ = FileManager.default.createFile(atPath: initramfs, contents: nil)
        guard let out = FileHandle(forWritingAtPath: initramfs) else { throw GuestKitError.cannotWrite(path: initramfs) }
        defer { try? out.close() }
        for part in [baseArchive, scenarioArchive] {
            let data = try Data(contentsOf: URL(fileURLWithPath: part))
            out.write(data)
            // The kernel finds the next archive at a 4-byte boundary and skips zero padding (init/initramfs.c).
            out.write(Data(count: (512 - data.count % 512) % 512))
        }
        return initramfs
    }

    /// The part that does not change between runs: busybox, Xen's tree and the libraries its
    /// programs need, the kernel modules, `swiftdm` and its libraries.
    private func writeBaseArchive() throws {
        let staging = baseArchive + ".new"
        let cpio = try CpioArchive(writingTo: staging)
        for d in ["bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "run", "root", "etc", "lib/modules",
                  "var/lib/xen", "var/log/xen", "usr/local/bin"] {
            cpio.directory(d)
        }
        cpio.characterDevice("dev/console", major: 5, minor: 1)
        cpio.symlink("var/run", target: "../run")
        cpio.file("etc/passwd", contents: Data("root:x:0:0:root:/root:/bin/sh\n".utf8))
        cpio.file("etc/group", contents: Data("root:x:0:\n".utf8))

        // busybox's applets in /bin, where nothing of the tree lives.
        try cpio.copy(hostFile: parts.busybox, to: "bin/busybox")
        for applet in try HostCommand.run([parts.busybox, "--list"]).split(separator: "\n") where applet != "busybox" {
            cpio.symlink("bin/\(applet)", target: "busybox")
        }

        // Xen's tree, symbolic links kept.
        var elfs: [String] = []
        try addTree(to: cpio, elfs: &elfs)
        // QEMU's data files, where qemu-system-xen looks for them (Debian's qemu-system-data).
        if FileManager.default.fileExists(atPath: "/usr/share/qemu") {
            try addHostDirectory("/usr/share/qemu", to: cpio)
        }

        // Libraries: whatever the tree's programs need that the tree does not hold, from the host.
        let libraryPath = ["/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib/xen-4.17/lib/x86_64-linux-gnu",
                           "/usr/lib/x86_64-linux-gnu/xen"].map { parts.tree + $0 }.joined(separator: ":")
        var copied: Set<String> = []
        for elf in elfs {
            let relative = String(elf.dropFirst(parts.tree.count + 1))
            let (found, missing) = try libraries(of: elf, libraryPath: libraryPath)
            if !missing.isEmpty {
                if Self.essentialPrograms.contains(relative) { throw XenLabError.unresolvedLibraries(program: relative, libraries: missing) }
                log("note: \(relative) needs \(missing.joined(separator: ", ")), which neither the tree nor the host has")
            }
            for library in found where !library.hasPrefix(parts.tree + "/") && copied.insert(library).inserted {
                try cpio.copy(hostFile: library, to: String(library.drop { $0 == "/" }))
            }
        }

        // The kernel modules, and their load order for /init.
        let modules = KernelModules(tree: parts.moduleTree)
        let order = try modules.loadOrder(for: XenLabScripts.modules)
        log("dom0 modules: \(order.joined(separator: " "))")
        for name in order { cpio.file("lib/modules/\(name).ko", contents: try modules.objectData(name)) }
        cpio.file(String(XenLabPaths.moduleList.dropFirst()), contents: Data((order.joined(separator: "\n") + "\n").utf8))

        // swiftdm without its debug information (most of a debug build; every byte is unpacked under TCG).
        let stripped = workDirectory + "/swiftdm"
        try? FileManager.default.removeItem(atPath: stripped)
        if HostCommand.exists("strip") {
            try HostCommand.run(["strip", "-o", stripped, swiftdm])
        } else {
            try FileManager.default.copyItem(atPath: swiftdm, toPath: stripped)
        }
        try cpio.copy(hostFile: stripped, to: String(XenLabPaths.swiftdm.dropFirst()))
        let (found, missing) = try libraries(of: stripped, libraryPath: libraryPath)
        guard missing.isEmpty else { throw XenLabError.unresolvedLibraries(program: swiftdm, libraries: missing) }
        for library in found where copied.insert(library).inserted {
            // A library of the tree is already in the archive at its dom0 path.
            if library.hasPrefix(parts.tree + "/") { continue }
            try cpio.copy(hostFile: library, to: String(library.drop { $0 == "/" }))
        }
        try cpio.finish()
        try? FileManager.default.removeItem(atPath: baseArchive)
        try FileManager.default.moveItem(atPath: staging, toPath: baseArchive)
    }

    /// Adds ``XenLabParts/tree`` (without ``excludedTreePaths``) and collects its ELF files.
    private func addTree(to cpio: CpioArchive, elfs: inout [String]) throws {
        let root = parts.tree
        guard let enumerator = FileManager.default.enumerator(atPath: root) else { throw GuestKitError.cannotWrite(path: root) }
        while let relative = enumerator.nextObject() as? String {
            if Self.excludedTreePaths.contains(where: { relative == $0 || relative.hasPrefix($0 + "/") }) {
                enumerator.skipDescendants()
                continue
            }
            let path = root + "/" + relative
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            switch attributes[.type] as? FileAttributeType {
            case .typeSymbolicLink?:
                cpio.symlink(relative, target: try FileManager.default.destinationOfSymbolicLink(atPath: path))
            case .typeDirectory?:
                cpio.directory(relative)
            case .typeRegular?:
                try cpio.copy(hostFile: path, to: relative)
                if Self.isELF(path) { elfs.append(path) }
            default:
                continue
            }
        }
    }

    /// Adds a host directory's regular files at their host paths.
    private func addHostDirectory(_ directory: String, to cpio: CpioArchive) throws {
        guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return }
        while let relative = enumerator.nextObject() as? String {
            let path = directory + "/" + relative
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            try cpio.copy(hostFile: path, to: String(path.dropFirst()))
        }
    }

    /// The libraries `ldd` resolves for `program` (the tree's directories searched first) and
    /// the names it cannot resolve.
    private func libraries(of program: String, libraryPath: String) throws -> (found: [String], missing: [String]) {
        let output: String
        do {
            output = try HostCommand.run(["env", "LD_LIBRARY_PATH=" + libraryPath, "ldd", program])
        } catch GuestKitError.hostCommandFailed(_, _, let text) where text.contains("not a dynamic executable") {
            return ([], [])
        }
        var found: [String] = []
        var missing: [String] = []
        for line in output.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if line.contains("=> not found"), let name = fields.first {
                missing.append(String(name))
            } else if let arrow = fields.firstIndex(of: "=>"), arrow + 1 < fields.count, fields[arrow + 1].hasPrefix("/") {
                found.append(String(fields[arrow + 1]))
            } else if let first = fields.first, first.hasPrefix("/") {
                found.append(String(first))
            }
        }
        return (found, missing)
    }

    /// True when `path` starts with the ELF magic.
    private static func isELF(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: 4)) == Data([0x7F, 0x45, 0x4C, 0x46])
    }
}
