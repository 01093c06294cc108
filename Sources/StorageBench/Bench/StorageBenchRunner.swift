#if canImport(Glibc)
import Glibc
#endif

/// Runs the storage scenarios of `swiftdm bench`: for each scenario, `rounds` rounds of
/// swiftdm then qemu-storage-daemon (ABAB…), each side a fresh backend process on the same
/// image driven by the same ``BlockLoadGenerator``; beside the 4k QD32 random reads, the
/// host's fio on the image as the limit. On a shared, noisy machine only ratios within one
/// run mean something, which is why the sides alternate instead of running back to back.
public struct StorageBenchRunner {
    /// What to run.
    public let options: StorageBenchOptions
    /// Receives one line per measurement as it happens (the launcher prints them to stderr).
    public let progress: @Sendable (String) -> Void

    /// A runner for `options`, reporting progress lines to `progress`.
    public init(options: StorageBenchOptions, progress: @escaping @Sendable (String) -> Void = { _ in }) {
        self.options = options
        self.progress = progress
    }

    /// Creates the image, runs every scenario and removes the image.
    ///
    /// Failures of one side (a backend that does not start, a request that fails) are
    /// recorded in the report rather than thrown, so the other side's figures are kept.
    /// - Throws: only when the image cannot be created or the options are unusable.
    public func run() throws(StorageBenchError) -> StorageBenchReport {
        guard options.rounds >= 1 else { throw .badParameter("rounds \(options.rounds)") }
        let tag = "swiftdm-bench-\(getpid())"
        progress("creating a \(options.imageSize >> 20) MiB image in \(options.directory)")
        let image = try BenchImage.create(at: "\(options.directory)/\(tag).img", size: options.imageSize)
        defer { image.remove() }
        let directIO = BenchImage.supportsDirectIO(image.path)
        var report = StorageBenchReport(options: options, qsdDirectIO: directIO)

        for scenario in options.scenarios {
            var outcomes: [BlockBackendKind: BenchOutcome] = [
                .swiftdm: .measured([]),
                .qemuStorageDaemon: options.qemuStorageDaemon == nil ? .notInstalled : .measured([]),
            ]
            var limit: BenchOutcome = scenario.hasHostLimit ? (options.fio == nil ? .notInstalled : .measured([])) : .notInstalled
            for round in 1...options.rounds {
                for kind in BlockBackendKind.allCases {
                    // A side that failed once is not retried: its error is the figure.
                    guard case .measured = outcomes[kind] else { continue }
                    do {
                        let m = try measure(kind, scenario, image: image, directIO: directIO, socket: "\(options.directory)/\(tag)-\(kind.label).sock")
                        outcomes[kind]?.append(m)
                        progress("\(scenario.name) round \(round) \(kind.label): \(Self.summary(m, scenario))")
                    } catch {
                        outcomes[kind] = .failed(error.description, outcomes[kind]?.measurements ?? [])
                        progress("\(scenario.name) round \(round) \(kind.label): FAILED: \(error)")
                    }
                }
                if case .measured = limit, let fio = options.fio {
                    do {
                        let r = try HostFio.run(fio, image: image.path, seconds: options.seconds)
                        limit.append(BenchMeasurement(r))
                        progress("\(scenario.name) round \(round) host fio: \(Self.summary(BenchMeasurement(r), scenario))")
                    } catch {
                        limit = .failed(error.description, limit.measurements)
                        progress("\(scenario.name) round \(round) host fio: FAILED: \(error)")
                    }
                }
            }
            report.rows.append(StorageBenchReport.Row(scenario: scenario, swiftdm: outcomes[.swiftdm] ?? .notInstalled,
                                                      qsd: outcomes[.qemuStorageDaemon] ?? .notInstalled,
                                                      limit: scenario.hasHostLimit ? limit : nil))
        }
        return report
    }

    /// One fresh backend, one connection, warm-up, then the measured run.
    private func measure(_ kind: BlockBackendKind, _ scenario: BenchScenario, image: BenchImage, directIO: Bool,
                         socket: String) throws(StorageBenchError) -> BenchMeasurement {
        let command: [String]
        switch kind {
        case .swiftdm:
            command = BlockBackendCommand.swiftdm(options.swiftdm, image: image.path, socket: socket,
                                                      diskOptions: options.swiftdmDiskOptions)
        case .qemuStorageDaemon:
            guard let qsd = options.qemuStorageDaemon else { throw .badParameter("qemu-storage-daemon is not installed") }
            command = BlockBackendCommand.qemuStorageDaemon(qsd, image: image.path, socket: socket, directIO: directIO,
                                                                pollMaxNanoseconds: options.qsdPollMaxNanoseconds)
        }
        let backend = try BlockBackendProcess(kind: kind, command: command, socket: socket)
        defer { backend.stop() }
        var workload = scenario.workload
        let frontend = try VhostUserBlockFrontend(
            socketPath: socket,
            options: .init(dataBytes: BlockLoadGenerator.dataBytesNeeded(blockSize: workload.blockSize, queueDepth: workload.queueDepth)))
        defer { frontend.disconnect() }
        let generator = try BlockLoadGenerator(frontend: frontend)
        if options.warmupSeconds > 0 {
            workload.length = .seconds(options.warmupSeconds)
            _ = try generator.run(workload)
        }
        workload.length = .seconds(options.seconds)
        workload.seed &+= 1
        return BenchMeasurement(try generator.run(workload))
    }

    static func summary(_ m: BenchMeasurement, _ scenario: BenchScenario) -> String {
        let rate = scenario.reportsBandwidth ? "\(StorageBenchReport.format(m.megabytesPerSecond)) MB/s" : "\(StorageBenchReport.format(m.iops)) IOPS"
        return "\(rate), latency mean \(StorageBenchReport.format(m.meanMicroseconds)) µs, p50 \(StorageBenchReport.format(m.p50Microseconds)) µs, p99 \(StorageBenchReport.format(m.p99Microseconds)) µs"
    }
}
