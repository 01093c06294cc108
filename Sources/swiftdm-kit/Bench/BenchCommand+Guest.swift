import StorageBench
#if canImport(Glibc)
import Glibc
#endif

/// The real-Linux scenarios of `swiftdm bench` (`linux-fio`, `linux-iperf3`): which ones were
/// asked for, and running them after the storage scenarios. Kept apart from BenchCommand.swift
/// so each group of scenarios owns its own file.
extension BenchCommand {
    /// The real-Linux scenarios `--scenario` and `--no-guest` leave, in table order.
    var chosenGuestScenarios: [GuestBenchScenario] {
        guard !noGuest else { return [] }
        guard !scenarioNames.isEmpty else { return GuestBenchScenario.allCases }
        let names = scenarioNames.map { $0.lowercased() }
        return GuestBenchScenario.allCases.filter { names.contains($0.key) }
    }

    /// Runs the chosen real-Linux scenarios and prints their tables; what cannot run here
    /// (no root, QEMU or guest kit) is printed as NOT RUN, never left out silently.
    func runGuestScenarios(swiftdm: String, swiftdmDiskOptions: String) {
        let scenarios = chosenGuestScenarios
        guard !scenarios.isEmpty else { return }
        var options = GuestBenchOptions.defaults(quick: quick, swiftdm: swiftdm)
        options.scenarios = scenarios
        if let rounds { options.rounds = rounds }
        if let guestSeconds {
            options.fioSeconds = guestSeconds
            options.iperfSeconds = guestSeconds
        }
        if let dir { options.directory = dir }
        options.swiftdmDiskOptions = swiftdmDiskOptions
        Self.emit("swiftdm bench: real Linux under QEMU \(options.accelerator): \(scenarios.map(\.key).joined(separator: ", ")), swiftdm \(swiftdm)", to: STDOUT_FILENO)
        let report = GuestBenchRunner(options: options) { Self.emit($0, to: STDERR_FILENO) }.run()
        Self.emit(report.table, to: STDOUT_FILENO)
    }
}
