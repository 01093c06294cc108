/// Everything that can go wrong building a guest kit, booting its guests or running the demo.
/// Each message names the offending value (the package, path, command, guest) so the one line
/// a user sees says what to fix.
public enum GuestKitError: Error, CustomStringConvertible, Sendable {
    /// A host tool (apt-get, dpkg-deb, gzip, ldd, sha256sum, QEMU) exited non-zero; `output`
    /// is what it printed on standard output and error.
    case hostCommandFailed(command: [String], status: Int32, output: String)
    /// A host tool the operation needs is not on `PATH`; `package` is the Debian package with it.
    case toolMissing(tool: String, package: String)
    /// `apt-cache policy` lists no installable version of `package`.
    case noCandidateVersion(package: String)
    /// `apt-cache depends metaPackage` names no dependency starting with `prefix`.
    case noDependency(metaPackage: String, prefix: String)
    /// `apt-get download` reported success but no `.deb` of `package` appeared in `directory`.
    case downloadLeftNoPackage(package: String, version: String, directory: String)
    /// The kernel package holds no `/lib/modules/<release>` tree.
    case kernelPackageWithoutModules(package: String)
    /// A module the guest needs is neither in the module `tree` nor built into the kernel.
    case moduleNotFound(module: String, tree: String)
    /// Modules whose `depends=` strings form a cycle, in the order they were reached.
    case moduleDependencyCycle([String])
    /// A file could not be created or opened for writing.
    case cannotWrite(path: String)
    /// A POSIX call on `path` failed with `errno`.
    case systemCallFailed(call: String, path: String, errno: Int32)
    /// A UNIX socket path longer than `sockaddr_un` holds (107 bytes).
    case socketPathTooLong(path: String)
    /// The guest kit in `directory` was built without Debian's user-mode-linux.
    case userModeLinuxUnavailable(kitDirectory: String)
    /// A `swiftdm vhost-user` child process never created `socket`; `output` is what it printed.
    case backendDidNotStart(socket: String, output: String)
    /// The demo's scratch disk size is outside ``DemoScenario/diskSizeRange``.
    case diskSizeOutOfRange(mebibytes: Int)
    /// A guest did not finish its command; `status` is its host process's exit status
    /// (`nil` when it had to be killed), `console` what it printed.
    case guestDidNotFinish(guest: String, status: Int32?, console: String)
    /// The guests ran but what they reported differs from what the host sees.
    case resultsMismatch(checks: [String])
    /// The nested-KVM lab's L1 guest has no `/dev/kvm`; `reason` is what L1 found (its CPU
    /// flags, the kernel's KVM messages).
    case nestedKVMUnavailable(reason: String)
    /// A lab scenario name that is empty, repeated, or has characters other than letters,
    /// digits, `-`, `_` and `.`.
    case badScenarioName(String)
    /// A comparison with QEMU was asked of a lab built without it (``NestedKVMLab/carriesQEMU``).
    case labWithoutQEMU(workDirectory: String)
    /// Debian offers no standard kernel (`linux-image-<ABI>-amd64`) next to the cloud kernel
    /// package `cloudPackage`, which the graphics kit needs for its DRM and input drivers.
    case noStandardKernel(cloudPackage: String)
    /// A lab scenario boots the graphics kit, but the lab was made without one
    /// (``NestedKVMLab/graphicsKit``).
    case labWithoutGraphicsKit(scenario: String)
    /// No free TCP port on the host's loopback interface; `errno` is why.
    case noFreeHostPort(errno: Int32)
    /// `iperf3 -s` did not say it was listening; `output` is what it printed.
    case iperfServerDidNotStart(output: String)

    public var description: String {
        switch self {
        case .hostCommandFailed(let command, let status, let output):
            let tail = output.split(separator: "\n").suffix(8).joined(separator: "\n    ")
            return "`\(command.joined(separator: " "))` exited with status \(status)" + (tail.isEmpty ? "" : ":\n    \(tail)")
        case .toolMissing(let tool, let package):
            return "\(tool) is not installed (apt-get install \(package))"
        case .noCandidateVersion(let package):
            return "apt knows no installable version of \(package) (run `apt-get update`?)"
        case .noDependency(let metaPackage, let prefix):
            return "\(metaPackage) has no dependency starting with \(prefix)"
        case .downloadLeftNoPackage(let package, let version, let directory):
            return "apt-get download \(package)=\(version) left no .deb in \(directory)"
        case .kernelPackageWithoutModules(let package):
            return "\(package) contains no /lib/modules/<release>"
        case .moduleNotFound(let module, let tree):
            return "kernel module \(module) is neither in \(tree) nor built in"
        case .moduleDependencyCycle(let path):
            return "module dependency cycle: \(path.joined(separator: " → "))"
        case .cannotWrite(let path):
            return "cannot write \(path)"
        case .systemCallFailed(let call, let path, let errno):
            return "\(call) \(path): errno \(errno)"
        case .socketPathTooLong(let path):
            return "the UNIX socket path \(path) is longer than 107 bytes"
        case .userModeLinuxUnavailable(let directory):
            return "the guest kit in \(directory) has no user-mode Linux (the user-mode-linux package was unavailable)"
        case .backendDidNotStart(let socket, let output):
            return "the swiftdm vhost-user backend did not create \(socket): \(output)"
        case .diskSizeOutOfRange(let mebibytes):
            return "a \(mebibytes) MiB scratch disk is outside \(DemoScenario.diskSizeRange.lowerBound)...\(DemoScenario.diskSizeRange.upperBound) MiB"
        case .guestDidNotFinish(let guest, let status, let console):
            return "the \(guest) guest did not finish its workload (status \(status.map { "\($0)" } ?? "killed")); console:\n\(console)"
        case .resultsMismatch(let checks):
            return "the guests' results do not match the host's: \(checks.joined(separator: ", "))"
        case .nestedKVMUnavailable(let reason):
            return "QEMU TCG gives the nested-KVM lab no /dev/kvm: \(reason)"
        case .badScenarioName(let name):
            return "lab scenario name \"\(name)\" is empty, repeated, or not made of letters, digits, -, _ and ."
        case .labWithoutQEMU(let dir):
            return "the nested-KVM lab in \(dir) was built without QEMU (carryingQEMU: true)"
        case .noStandardKernel(let cloudPackage):
            return "apt knows no standard kernel package of \(cloudPackage)'s ABI (linux-image-<ABI>-amd64) for the graphics kit"
        case .labWithoutGraphicsKit(let scenario):
            return "lab scenario \(scenario) boots the graphics kit, but the lab carries none (graphicsKit:)"
        case .noFreeHostPort(let errno):
            return "no free TCP port on 127.0.0.1: errno \(errno)"
        case .iperfServerDidNotStart(let output):
            return "the iperf3 server did not start listening: \(output)"
        }
    }
}
