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
        write(line: "swiftdm bench: KVM, swiftdm \(options.swiftdm) vs \(options.qemu ?? "qemu-system-x86_64 (not installed)"), SeaBIOS \(options.seaBIOS ?? "(not installed)")", to: STDOUT_FILENO)
        let report = MachineBenchRunner(options: options) { write(line: $0, to: STDERR_FILENO) }.run()
        write(line: report.table, to: STDOUT_FILENO)
    }

    /// Writes a line to `fd`, unbuffered so stdout and stderr keep their order. `write(2)`.
    private func write(line: String, to fd: Int32) {
        var text = line + "\n"
        text.withUTF8 { b in
            var done = 0
            while done < b.count {
                let n = Glibc.write(fd, b.baseAddress.map { $0 + done }, b.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return }
                done += n
            }
        }
    }
}
