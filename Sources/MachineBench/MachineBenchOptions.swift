import GuestKit
#if canImport(Glibc)
import Glibc
#endif

/// Everything the KVM machine scenarios of `swiftdm bench` need to know.
public struct MachineBenchOptions: Sendable {
    /// Alternating rounds per scenario (each round runs every side once).
    public var rounds: Int
    /// The swiftdm executable whose `run` is measured.
    public var swiftdm: String
    /// `qemu-system-x86_64`, `nil` when not installed.
    public var qemu: String?
    /// SeaBIOS (Debian's `seabios` package), `nil` when not installed.
    public var seaBIOS: String?
    /// Where the boot disk, the exit-cost firmware and the C loop are written.
    public var directory: String

    /// The defaults: 3 rounds with `quick`, else 5; QEMU looked up on `PATH`.
    public static func defaults(quick: Bool, swiftdm: String, directory: String = "/tmp") -> MachineBenchOptions {
        let bios = "/usr/share/seabios/bios.bin"
        return MachineBenchOptions(
            rounds: quick ? 3 : 5, swiftdm: swiftdm, qemu: HostCommand.path(of: "qemu-system-x86_64"),
            seaBIOS: access(bios, R_OK) == 0 ? bios : nil, directory: directory)
    }
}
