import Foundation

/// Linux on swiftdm's own KVM on a host whose KVM cannot run it (PVM, or no `/dev/kvm`): a
/// QEMU TCG guest (L1) with `-cpu max` gets a hardware-style KVM from Debian's `kvm-amd`, and
/// `swiftdm run` boots the guest kit (L2) on it.
///
/// ``prepare()`` writes the L1 initrd — the kit's busybox initrd followed by an uncompressed
/// archive with `irqbypass`/`kvm`/`kvm-amd` (and `tun`) from the kit's kernel package, the
/// `swiftdm` executable with every library `ldd` lists, the kit's kernel and initrd for L2,
/// and the scenarios' files. ``run(_:echo:)`` boots L1 once for a list of scenarios and returns
/// each one's console and exit status; ``shell()`` gives a developer L1's shell.
///
/// An L1 boot costs ~12 s of wall time, each L2 boot ~25–40 s (more on a loaded host), so batch
/// scenarios into one run.
///
/// For display tests the lab can also carry the graphics kit for L2 (``graphicsKit``), forward
/// a host port to an L1 port (``forward``: a VNC client on the host reaching `swiftdm`'s VNC
/// server in L1), report L1's console line by line while it runs (`onLine`), and bring L1
/// files back (``NestedKVMScenario/returnedFiles``).
public struct NestedKVMLab: Sendable {
    /// A host TCP port QEMU's user-mode network forwards into L1.
    public struct TCPForward: Sendable, Hashable {
        /// L1's address on the forward's network (user-mode networking's first guest address).
        public static let l1Address = "10.0.2.15"
        /// The port on the host's `127.0.0.1`.
        public let hostPort: Int
        /// The port in L1 it reaches, on ``l1Address`` (a server bound to `0.0.0.0` there gets it).
        public let l1Port: Int
    }

    /// Modules L1 loads: KVM for AMD SVM (dependencies follow), and `tun` for scenarios with
    /// `--net` on a tap.
    static let modules = ["kvm_amd", "tun"]
    /// Added when L1 has the forward's NIC.
    static let networkModules = ["virtio_pci", "virtio_net"]

    /// The guest kit whose kernel boots L1 and L2.
    public let kit: BuiltGuestKit
    /// The `swiftdm` executable to carry into L1.
    public let swiftdm: String
    /// Where the lab writes its initrd (the caller removes it).
    public let workDirectory: String
    /// Whether L1 also carries QEMU and its x86 firmware (``LabPaths/qemu``), for comparisons.
    public let carriesQEMU: Bool
    /// The graphics kit L1 carries for L2 at ``LabPaths/l2GraphicsKitDirectory``, if any.
    public let graphicsKit: BuiltGuestKit?
    /// The host port forwarded into L1, if any (chosen free when the lab is made).
    public let forward: TCPForward?
    private let log: @Sendable (String) -> Void

    /// A lab for `kit` and `swiftdm`, writing into `workDirectory`; with `carryingQEMU`, L1 can
    /// also run QEMU with KVM on the same kernel (about 50 MB more to unpack at each L1 boot).
    /// With `graphicsKit` (``GuestKitBuilder/buildGraphics()``), L2 scenarios can boot it; with
    /// `forwardingTCPToL1Port`, a free host port on `127.0.0.1` reaches that port in L1
    /// (``forward``).
    ///
    /// - Throws: ``GuestKitError/toolMissing(tool:package:)`` when QEMU, `ldd` or `dpkg-deb` is
    ///   missing; ``GuestKitError/noFreeHostPort(errno:)``.
    public init(kit: BuiltGuestKit, swiftdm: String, workDirectory: String, carryingQEMU: Bool = false,
                graphicsKit: BuiltGuestKit? = nil, forwardingTCPToL1Port l1Port: Int? = nil,
                log: @escaping @Sendable (String) -> Void = { _ in }) throws {
        try HostCommand.require("qemu-system-x86_64", package: "qemu-system-x86")
        try HostCommand.require("ldd", package: "libc-bin")
        try HostCommand.require("dpkg-deb", package: "dpkg")
        self.kit = kit
        self.swiftdm = swiftdm
        self.workDirectory = workDirectory
        self.carriesQEMU = carryingQEMU
        self.graphicsKit = graphicsKit
        self.forward = try l1Port.map { TCPForward(hostPort: try HostTCPPort.free(), l1Port: $0) }
        self.log = log
    }

    /// The base archive's path: everything but the scenarios' files.
    var baseArchive: String { workDirectory + "/lab-base.cpio" }

    /// Boots L1 once and runs `scenarios` in order.
    ///
    /// - Parameters:
    ///   - echo: Receives L1's console as it arrives (for verbose runs).
    ///   - onLine: Receives each line of L1's console (carriage returns removed) as it arrives,
    ///     so the caller can act while a scenario runs — say, start a VNC client through
    ///     ``forward`` when the guest says its display is ready. It runs on the thread reading
    ///     the console, which waits for it: start longer work elsewhere and return.
    /// - Throws: ``GuestKitError/nestedKVMUnavailable(reason:)`` when L1 has no `/dev/kvm`;
    ///   ``GuestKitError/guestDidNotFinish(guest:status:console:)`` when L1 never got its KVM
    ///   ready; ``GuestKitError/labWithoutGraphicsKit(scenario:)``; other ``GuestKitError``s for
    ///   a lab that cannot be built.
    public func run(_ scenarios: [NestedKVMScenario], echo: (@Sendable (String) -> Void)? = nil,
                    onLine: (@Sendable (String) -> Void)? = nil) throws -> NestedKVMLabRun {
        var names: Set<String> = []
        for s in scenarios {
            guard !s.name.isEmpty, s.name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }), names.insert(s.name).inserted else {
                throw GuestKitError.badScenarioName(s.name)
            }
            if s.usesGraphicsKit && graphicsKit == nil { throw GuestKitError.labWithoutGraphicsKit(scenario: s.name) }
        }
        let initrd = try prepare(scenarios: scenarios)
        // L1 boot, then each scenario up to its timeout, then L1's power-off.
        // A retried scenario's first attempt ends early (before L2's init), hence the extra minute.
        let budget = scenarios.reduce(Duration.seconds(120)) { $0 + $1.timeout + .seconds(70) }
        let l1 = LabL1Guest(kernel: kit.kernel, initrd: initrd, command: "sh \(LabPaths.runner)", defaultTimeout: budget,
                            forward: forward)
        log("booting L1 (QEMU TCG) for \(scenarios.count) scenario(s): \(scenarios.map(\.name).joined(separator: " "))"
            + (forward.map { "; host 127.0.0.1:\($0.hostPort) → L1 port \($0.l1Port)" } ?? ""))
        var console = echo
        if let onLine {
            let splitter = ConsoleLineSplitter(onLine: onLine)
            console = { @Sendable chunk in
                echo?(chunk)
                splitter.feed(chunk)
            }
        }
        let guest = try l1.run(echo: console)
        let run = NestedKVMLabRun(console: guest.console, wallSeconds: guest.wallSeconds, hostStatus: guest.hostStatus)
        if let line = run.console.split(separator: "\n").first(where: { $0.hasPrefix(LabRunnerScript.noKVMMarker) }) {
            throw GuestKitError.nestedKVMUnavailable(reason: String(line.dropFirst(LabRunnerScript.noKVMMarker.count + 1)))
        }
        for s in run.scenarios {
            // Always on standard error, whatever `log` does: a retry must never pass unnoticed.
            if let reason = s.retryReason { HostOutput.standardError("lab: scenario \(s.name) ran twice: \(reason)\n") }
        }
        guard run.kvmReadyUptime != nil else {
            throw GuestKitError.guestDidNotFinish(guest: "nested-KVM lab L1", status: guest.hostStatus, console: String(run.console.suffix(4000)))
        }
        return run
    }

    /// Boots L1 with its KVM loaded and a shell on this process's terminal (the caller's
    /// standard input and output); returns QEMU's exit status. `files` are copied in as for a
    /// scenario. Leave with `poweroff -f` (or Ctrl-A X, QEMU's monitor escape). With a
    /// ``forward``, L1's network is up and the host port is printed.
    public func shell(files: [NestedKVMScenario.File] = []) throws -> Int32 {
        let initrd = try prepare(scenarios: [NestedKVMScenario(name: "shell", commandLine: [], files: files)])
        let network = forward.map { ". \(LabPaths.network); echo 'host 127.0.0.1:\($0.hostPort) reaches L1 port \($0.l1Port)'; " } ?? ""
        let l1 = LabL1Guest(kernel: kit.kernel, initrd: initrd,
                            command: ". \(LabPaths.setup); \(network)echo 'L2: \(LabPaths.swiftdm) run --kernel \(LabPaths.l2KitDirectory)/vmlinuz --initrd \(LabPaths.l2KitDirectory)/initrd.img …'; setsid cttyhack sh",
                            defaultTimeout: .seconds(86_400), forward: forward)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = l1.commandLine()
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Writes the L1 initrd for `scenarios` and returns its path: the kit's initrd, the base
    /// archive (built once per lab directory) and an archive with the runner and the files.
    func prepare(scenarios: [NestedKVMScenario]) throws -> String {
        try FileManager.default.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: baseArchive) { try writeBaseArchive() }

        let scenarioArchive = workDirectory + "/lab-scenarios.cpio"
        let cpio = try CpioArchive(writingTo: scenarioArchive)
        cpio.file(String(LabPaths.runner.dropFirst()), contents: Data(LabRunnerScript.runner(for: scenarios, network: forward != nil).utf8), mode: 0o755)
        cpio.file(String(LabPaths.network.dropFirst()), contents: Data(LabRunnerScript.network.utf8), mode: 0o755)
        for s in scenarios {
            for f in s.files { try cpio.copy(hostFile: f.hostPath, to: String(f.labPath.dropFirst())) }
        }
        try cpio.finish()

        let initrd = workDirectory + "/l1-initrd.img"
        _ = FileManager.default.createFile(atPath: initrd, contents: nil)
        guard let out = FileHandle(forWritingAtPath: initrd) else { throw GuestKitError.cannotWrite(path: initrd) }
        defer { try? out.close() }
        for part in [kit.initrd, baseArchive, scenarioArchive] {
            let data = try Data(contentsOf: URL(fileURLWithPath: part))
            out.write(data)
            // The kernel finds the next archive at a 4-byte boundary and skips zero padding
            // (init/initramfs.c); 512 also ends the kit's gzip stream cleanly.
            out.write(Data(count: (512 - data.count % 512) % 512))
        }
        return initrd
    }

    /// The host's `iperf3` and the libraries it needs: (host path, path in an initrd).
    private static func iperf3Files() throws -> [(String, String)] {
        guard let iperf3 = HostCommand.path(of: "iperf3") else { throw GuestKitError.toolMissing(tool: "iperf3", package: "iperf3") }
        return [(iperf3, "usr/bin/iperf3")] + (try SharedLibraries.needed(by: iperf3)).map { ($0, String($0.drop { $0 == "/" })) }
    }

    /// A complete cpio archive of `files`.
    private func iperf3Archive(_ files: [(String, String)]) throws -> Data {
        let path = workDirectory + "/iperf3.cpio"
        let cpio = try CpioArchive(writingTo: path)
        for (host, target) in files { try cpio.copy(hostFile: host, to: target) }
        try cpio.finish()
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try Data(contentsOf: URL(fileURLWithPath: path))
    }

    /// The part that does not change between runs: modules, `swiftdm` and its libraries, the L2 kit.
    private func writeBaseArchive() throws {
        let packages = DebianPackages(cacheDirectory: kit.directory + "/debs")
        let kernelPackage = "linux-image-" + kit.kernelRelease
        log("fetching \(kernelPackage) for kvm-amd")
        let extracted = workDirectory + "/kernel"
        try? FileManager.default.removeItem(atPath: extracted)
        defer { try? FileManager.default.removeItem(atPath: extracted) }
        try packages.extract(try packages.fetch(kernelPackage, version: try packages.candidateVersion(of: kernelPackage)), into: extracted)
        let modules = KernelModules(tree: extracted + "/lib/modules/" + kit.kernelRelease)
        let order = try modules.loadOrder(for: Self.modules + (forward == nil ? [] : Self.networkModules))
        log("L1 modules: \(order.joined(separator: " "))")

        let staging = workDirectory + "/lab-base.cpio.new"
        let cpio = try CpioArchive(writingTo: staging)
        for name in order { cpio.file("lib/modules/\(name).ko", contents: try modules.objectData(name)) }
        // Replaces the kit's list: L1 needs KVM, not the virtio drivers.
        cpio.file(GuestInit.moduleListPath, contents: Data((order.joined(separator: "\n") + "\n").utf8))
        cpio.file(String(LabPaths.setup.dropFirst()), contents: Data(LabRunnerScript.setup.utf8), mode: 0o755)

        // swiftdm without its debug information (a debug build's is most of its size, and every
        // byte is unpacked under TCG); its libraries keep their host paths for the loader.
        let stripped = workDirectory + "/swiftdm"
        try? FileManager.default.removeItem(atPath: stripped)
        if HostCommand.exists("strip") {
            try HostCommand.run(["strip", "-o", stripped, swiftdm])
        } else {
            try FileManager.default.copyItem(atPath: swiftdm, toPath: stripped)
        }
        try cpio.copy(hostFile: stripped, to: String(LabPaths.swiftdm.dropFirst()))
        for library in try SharedLibraries.needed(by: stripped) {
            try cpio.copy(hostFile: library, to: String(library.drop { $0 == "/" }))
        }
        if carriesQEMU {
            guard let qemu = HostCommand.path(of: "qemu-system-x86_64") else {
                throw GuestKitError.toolMissing(tool: "qemu-system-x86_64", package: "qemu-system-x86")
            }
            try cpio.copy(hostFile: qemu, to: String(LabPaths.qemu.dropFirst()))
            for library in try SharedLibraries.needed(by: qemu) {
                try cpio.copy(hostFile: library, to: String(library.drop { $0 == "/" }))
            }
            // The firmware QEMU's q35 and microvm machines load for a -kernel boot, where Debian's
            // QEMU looks for it (its firmware path: /usr/share/qemu, then /usr/share/seabios).
            for file in LabPaths.qemuFirmware {
                guard FileManager.default.fileExists(atPath: file) else { throw GuestKitError.toolMissing(tool: file, package: "qemu-system-data") }
                try cpio.copy(hostFile: file, to: String(file.dropFirst()))
            }
            for file in LabPaths.qemuDisplayFiles where FileManager.default.fileExists(atPath: file) {
                try cpio.copy(hostFile: file, to: String(file.dropFirst()))
                for library in try file.hasSuffix(".so") ? SharedLibraries.needed(by: file) : [] {
                    try cpio.copy(hostFile: library, to: String(library.drop { $0 == "/" }))
                }
            }
        }
        // iperf3 for network scenarios: in L1 itself, and in L2's tools initrd (the kit's
        // initrd followed by an archive of iperf3 and its libraries).
        let iperf3Files = try Self.iperf3Files()
        for (host, target) in iperf3Files { try cpio.copy(hostFile: host, to: target) }
        let iperf3 = try iperf3Archive(iperf3Files)
        let l2 = String(LabPaths.l2KitDirectory.dropFirst())
        try cpio.copy(hostFile: kit.kernel, to: l2 + "/vmlinuz")
        try cpio.copy(hostFile: kit.initrd, to: l2 + "/initrd.img")
        var tools = try Data(contentsOf: URL(fileURLWithPath: kit.initrd))
        tools.append(Data(count: (512 - tools.count % 512) % 512))
        tools.append(iperf3)
        cpio.file(l2 + "/initrd-tools.img", contents: tools)
        if let graphicsKit {
            let l2Graphics = String(LabPaths.l2GraphicsKitDirectory.dropFirst())
            try cpio.copy(hostFile: graphicsKit.kernel, to: l2Graphics + "/vmlinuz")
            try cpio.copy(hostFile: graphicsKit.initrd, to: l2Graphics + "/initrd.img")
        }
        try cpio.finish()
        try FileManager.default.moveItem(atPath: staging, toPath: baseArchive)
    }
}
