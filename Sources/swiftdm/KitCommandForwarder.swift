import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

/// `swiftdm demo`, `swiftdm lab`, `swiftdm guest-kit` and `swiftdm bench`: handed over, arguments untouched, to
/// the `swiftdm-kit` executable beside this one. Those commands drive processes and files
/// through Foundation; keeping them out of this executable keeps Foundation, its
/// internationalisation layer and ICU out of every running machine's memory.
protocol KitCommandForwarder: ParsableCommand {
    var arguments: [String] { get }
}

extension KitCommandForwarder {
    func run() throws {
        let name = Self.configuration.commandName ?? ""
        let launcher = KitExecutable.launcherPath()
        let kit = KitExecutable.path(besides: launcher)
        guard access(kit, X_OK) == 0 else {
            throw ValidationError("swiftdm \(name) needs \(kit) (build it: swift build --product swiftdm-kit)")
        }
        setenv("SWIFTDM_EXECUTABLE", launcher, 1)
        let argv = [kit, name] + arguments
        var cArgs = argv.map { strdup($0) }
        cArgs.append(nil)
        execv(kit, &cArgs)
        let e = errno
        throw ValidationError("cannot start \(kit): \(String(cString: strerror(e))) (errno \(e))")
    }
}

/// Where the kit executable is: next to the running launcher.
enum KitExecutable {
    static let name = "swiftdm-kit"

    /// The running launcher's path (`/proc/self/exe`), or `argv[0]` without `/proc`.
    static func launcherPath() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return ProcessArguments.current.first ?? "swiftdm" }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func path(besides launcher: String) -> String {
        guard let slash = launcher.lastIndex(of: "/") else { return name }
        return String(launcher[...slash]) + name
    }
}

/// `swiftdm guest-kit` (see ``KitCommandForwarder``).
struct GuestKitForwarder: KitCommandForwarder {
    static let configuration = CommandConfiguration(
        commandName: "guest-kit",
        abstract: "Assemble a Linux test guest from Debian packages (kernel, busybox initrd, fio, iperf3, user-mode Linux).")
    @Argument(parsing: .captureForPassthrough, help: "Options of `swiftdm guest-kit --help`.")
    var arguments: [String] = []
}

/// `swiftdm demo` (see ``KitCommandForwarder``).
struct DemoForwarder: KitCommandForwarder {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Boot Linux guests on swiftdm's virtio-blk, virtio-rng and virtio-console and report what they saw.")
    @Argument(parsing: .captureForPassthrough, help: "Options of `swiftdm demo --help`.")
    var arguments: [String] = []
}

/// `swiftdm lab` (see ``KitCommandForwarder``).
struct LabForwarder: KitCommandForwarder {
    static let configuration = CommandConfiguration(
        commandName: "lab",
        abstract: "Run swiftdm on a hardware-style KVM nested inside QEMU TCG (shell, run, compare-boot).")
    @Argument(parsing: .captureForPassthrough, help: "Subcommand and options of `swiftdm lab --help`.")
    var arguments: [String] = []
}

/// `swiftdm bench` (see ``KitCommandForwarder``): it measures this launcher (`SWIFTDM_EXECUTABLE`).
struct BenchForwarder: KitCommandForwarder {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark swiftdm against its peers (vhost-user-blk vs qemu-storage-daemon, host fio as the limit), alternating rounds within one run.")
    @Argument(parsing: .captureForPassthrough, help: "Options of `swiftdm bench --help`.")
    var arguments: [String] = []
}
