/// What can go wrong preparing or booting the Xen lab (``XenLab``). Each message names the
/// offending value. Failures of the host tools and package downloads the lab shares with the
/// guest kit stay ``GuestKitError``s.
public enum XenLabError: Error, CustomStringConvertible, Sendable {
    /// A package of the lab unpacked without a file the lab needs (`path`, relative to the tree).
    case partMissing(package: String, path: String)
    /// `ldd` could not resolve a library of a program carried into dom0.
    case unresolvedLibraries(program: String, libraries: [String])
    /// A scenario name that is empty, repeated, or has characters other than letters, digits,
    /// `-`, `_` and `.`.
    case badScenarioName(String)
    /// Two scenarios put different host files at the same dom0 path.
    case conflictingFile(dom0Path: String, hostPaths: [String])
    /// A host path the QEMU command line cannot carry (QEMU splits `-initrd` at commas).
    case pathWithComma(String)
    /// Xen and dom0 booted, but `xl info` lists no HVM support; `reason` is what dom0 saw.
    case noHVM(reason: String)
    /// dom0 never got ready (the Xen boot, dom0's kernel or its toolstack failed); `console`
    /// is the end of what the machine printed, `status` QEMU's exit status (`nil`: killed).
    case dom0NotReady(status: Int32?, console: String)
    /// A guest kernel command line longer than Linux takes on x86 (2047 bytes).
    case commandLineTooLong(bytes: Int)

    public var description: String {
        switch self {
        case .partMissing(let package, let path):
            return "the Xen lab's package \(package) has no \(path)"
        case .unresolvedLibraries(let program, let libraries):
            return "ldd cannot resolve \(libraries.joined(separator: ", ")) for \(program)"
        case .badScenarioName(let name):
            return "Xen lab scenario name \"\(name)\" is empty, repeated, or not made of letters, digits, -, _ and ."
        case .conflictingFile(let path, let hostPaths):
            return "Xen lab scenarios put different files at \(path): \(hostPaths.joined(separator: ", "))"
        case .pathWithComma(let path):
            return "the Xen lab cannot pass \(path) to QEMU's -initrd (it splits at commas)"
        case .noHVM(let reason):
            return "Xen in QEMU TCG offers no HVM guests: \(reason)"
        case .dom0NotReady(let status, let console):
            return "Xen's dom0 never got ready (QEMU status \(status.map { "\($0)" } ?? "killed")); console:\n\(console)"
        case .commandLineTooLong(let bytes):
            return "a guest kernel command line of \(bytes) bytes is longer than Linux takes (2047)"
        }
    }
}
