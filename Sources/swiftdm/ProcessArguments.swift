import CDeviceModelShims
#if canImport(Glibc)
import Glibc
#endif

/// The command line: Swift's `CommandLine.arguments`, or, where that is empty because `/proc`
/// is not mounted (a minimal dom0, an initramfs), the argv the kernel passed, captured before
/// `main`. Without this, `swiftdm` would see no arguments at all and print its top-level help
/// with status 0.
enum ProcessArguments {
    static var current: [String] {
        let fromRuntime = CommandLine.arguments
        if !fromRuntime.isEmpty { return fromRuntime }
        let argc = Int(swiftdm_process_argc())
        guard argc > 0, let argv = swiftdm_process_argv() else { return [] }
        return (0..<argc).compactMap { argv[$0].map { String(cString: $0) } }
    }
}
