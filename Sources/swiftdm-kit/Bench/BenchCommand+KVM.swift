import MachineBench
import StorageBench
#if canImport(Glibc)
import Glibc
#endif

/// `swiftdm bench`'s KVM scenarios (MachineBench): SeaBIOS to an MBR with each side's peak RSS,
/// and the cost of a port and an MMIO exit, on `swiftdm run`, QEMU and a minimal C KVM loop.
extension BenchCommand {
    func runKVMScenarios() {
        var options = MachineBenchOptions.defaults(quick: quick, swiftdm: swiftdm ?? StorageBenchOptions.defaults(quick: quick).swiftdm)
        if let rounds { options.rounds = rounds }
        Self.emit("swiftdm bench: KVM, swiftdm \(options.swiftdm) vs \(options.qemu ?? "qemu-system-x86_64 (not installed)"), SeaBIOS \(options.seaBIOS ?? "(not installed)")", to: STDOUT_FILENO)
        let report = MachineBenchRunner(options: options) { Self.emit($0, to: STDERR_FILENO) }.run()
        Self.emit(report.table, to: STDOUT_FILENO)
    }
}
