import Foundation
import GuestKit

/// Runs the real-Linux scenarios of `swiftdm bench`: each round boots the guest kit under QEMU
/// twice, once with swiftdm serving its devices and once with the peers, each time with fresh
/// backends, and reads what the guest's fio and iperf3 measured. One boot per side and round
/// carries every chosen scenario (a TCG boot costs tens of seconds; the disk and the network
/// are used one after the other, never at once). Alternating within one run is what makes the
/// ratios mean something on a shared, noisy machine.
public struct GuestBenchRunner {
    /// What to run.
    public let options: GuestBenchOptions
    /// Receives one line per step as it happens (the launcher prints them to stderr).
    public let progress: @Sendable (String) -> Void

    /// The guest's network: the tap in the bench's namespace, and both ends' addresses.
    static let tap = "sdmbench0"
    static let hostAddress = "10.78.0.1"
    static let guestAddress = "10.78.0.2"
    static let guestMAC = "52:54:00:78:00:02"

    /// A runner for `options`, reporting progress lines to `progress`.
    public init(options: GuestBenchOptions, progress: @escaping @Sendable (String) -> Void = { _ in }) {
        self.options = options
        self.progress = progress
    }

    /// Runs every chosen scenario. Nothing is thrown: a scenario that cannot run here (no
    /// QEMU, no guest kit, no root for the tap, no peer) is reported as not run, with why, and
    /// a side whose boot fails as failed, keeping the rounds before it.
    public func run() -> GuestBenchReport {
        var report = GuestBenchReport(options: options)
        var outcomes: [GuestBenchScenario: [GuestBenchSide: GuestBenchOutcome]] = [:]
        for s in options.scenarios { outcomes[s] = [.swiftdm: .measured([]), .peer: .measured([])] }
        func notRun(_ s: GuestBenchScenario, _ why: String, sides: [GuestBenchSide] = GuestBenchSide.allCases) {
            for side in sides { outcomes[s]?[side] = .notRun(why) }
            progress("\(s.key): NOT RUN\(sides.count == 1 ? " (\(sides[0] == .peer ? s.peerLabel : "swiftdm"))" : ""): \(why)")
        }
        func finished() -> GuestBenchReport {
            var done = report
            done.sections = options.scenarios.map { s in
                GuestBenchReport.Section(scenario: s, swiftdm: outcomes[s]?[.swiftdm] ?? .notRun("?"), peer: outcomes[s]?[.peer] ?? .notRun("?"))
            }
            return done
        }

        let kit: BuiltGuestKit
        switch prepareKit() {
        case .success(let k): kit = k
        case .failure(let why):
            for s in options.scenarios { notRun(s, why.description) }
            return finished()
        }

        let tag = "swiftdm-bench-guest-\(getpid())"
        var image: BenchImage?
        defer { image?.remove() }
        if options.scenarios.contains(.fio) {
            if options.qemuStorageDaemon == nil {
                notRun(.fio, "qemu-storage-daemon is not installed (apt-get install qemu-utils)", sides: [.peer])
            }
            do {
                progress("creating a \(options.imageSize >> 20) MiB image in \(options.directory)")
                let created = try BenchImage.create(at: "\(options.directory)/\(tag).img", size: options.imageSize)
                image = created
                report.qsdDirectIO = BenchImage.supportsDirectIO(created.path)
            } catch {
                notRun(.fio, "the image could not be created: \(error)")
            }
        }
        var network: IperfTapNetwork?
        if options.scenarios.contains(.iperf3) {
            if let reason = NetworkNamespace.unavailableReason {
                notRun(.iperf3, "the tap lives in a network namespace, which \(reason)")
            } else if !HostCommand.exists("iperf3") {
                notRun(.iperf3, "iperf3 is not installed on the host (apt-get install iperf3)")
            } else {
                do {
                    network = try IperfTapNetwork(namespaceName: tag, tap: Self.tap, hostAddress: Self.hostAddress)
                } catch {
                    notRun(.iperf3, "the tap and the iperf3 server could not be set up: \(error)")
                }
            }
        }

        for round in 1...max(options.rounds, 1) {
            for side in GuestBenchSide.allCases {
                let active = options.scenarios.filter { outcomes[$0]?[side]?.isRunning == true }
                guard !active.isEmpty else { continue }
                let boot = bootOnce(side, active, kit: kit, image: image, network: network, tag: tag)
                if let engine = boot.fioEngine { report.fioEngine = engine }
                if let wall = boot.wallSeconds { report.wallSeconds[side, default: []].append(wall) }
                for s in active {
                    let label = side == .peer ? s.peerLabel : "swiftdm"
                    switch boot.results[s] {
                    case .success(let sample)?:
                        outcomes[s]?[side]?.append(sample)
                        progress("\(s.key) round \(round) \(label): \(Self.summary(sample, s, options))")
                    case .failure(let error)?:
                        outcomes[s]?[side]?.fail(error.description)
                        progress("\(s.key) round \(round) \(label): FAILED: \(error)")
                    case nil:
                        outcomes[s]?[side]?.fail("the round produced nothing")
                    }
                }
            }
        }
        return finished()
    }

    /// The guest kit from ``GuestBenchOptions/kitDirectory`` (built there the first time), or
    /// why there is none.
    private func prepareKit() -> Result<BuiltGuestKit, StorageBenchError> {
        guard HostCommand.exists("qemu-system-x86_64") else {
            return .failure(.toolFailed(command: "qemu-system-x86_64", detail: "not installed (apt-get install qemu-system-x86)"))
        }
        progress("guest kit: \(options.kitDirectory) (built there if missing; `swiftdm guest-kit --out DIR` builds it by hand)")
        let kit: BuiltGuestKit
        do {
            kit = try GuestKitBuilder(outputDirectory: options.kitDirectory) { progress("guest-kit: \($0)") }.build()
        } catch {
            return .failure(.toolFailed(command: "swiftdm guest-kit --out \(options.kitDirectory)", detail: "\(error)"))
        }
        guard kit.toolsInitrd != nil else {
            return .failure(.toolFailed(command: "swiftdm guest-kit --out \(options.kitDirectory)",
                                        detail: "the kit has no tools initrd: fio and iperf3 must be installed on the host (apt-get install fio iperf3)"))
        }
        return .success(kit)
    }

    /// What one guest boot gave: a sample or an error per scenario it carried.
    struct Boot {
        var results: [GuestBenchScenario: Result<GuestBenchSample, StorageBenchError>] = [:]
        var fioEngine: String?
        var wallSeconds: Double?
    }

    /// Starts `side`'s backends for `scenarios`, boots one guest that runs all their tools, stops
    /// the backends and reads the guest's report.
    private func bootOnce(_ side: GuestBenchSide, _ scenarios: [GuestBenchScenario], kit: BuiltGuestKit,
                          image: BenchImage?, network: IperfTapNetwork?, tag: String) -> Boot {
        var boot = Boot()
        var devices: [QemuGuest.Device] = []
        var script: [String] = []
        var blk: BlockBackendProcess?
        var net: VhostUserBackendProcess?
        defer {
            blk?.stop()
            net?.terminate()
        }
        // The disk first, so it is the guest's /dev/vda.
        if scenarios.contains(.fio), let image {
            let socket = "\(options.directory)/\(tag)-blk.sock"
            do throws(StorageBenchError) {
                let command: [String]
                let kind: BlockBackendKind
                switch side {
                case .swiftdm:
                    kind = .swiftdm
                    command = BlockBackendCommand.swiftdm(options.swiftdm, image: image.path, socket: socket, diskOptions: options.swiftdmDiskOptions)
                case .peer:
                    guard let qsd = options.qemuStorageDaemon else { throw .badParameter("qemu-storage-daemon is not installed") }
                    kind = .qemuStorageDaemon
                    command = BlockBackendCommand.qemuStorageDaemon(qsd, image: image.path, socket: socket, directIO: BenchImage.supportsDirectIO(image.path))
                }
                blk = try BlockBackendProcess(kind: kind, command: command, socket: socket)
                devices.append(.blk(socket: socket))
                script.append(GuestFioScript(jobs: options.fioJobs, seconds: options.fioSeconds, rampSeconds: options.fioRampSeconds).text)
            } catch {
                boot.results[.fio] = .failure(error)
            }
        }
        if scenarios.contains(.iperf3), let network {
            switch side {
            case .swiftdm:
                let socket = "\(options.directory)/\(tag)-net.sock"
                do {
                    net = try VhostUserBackendProcess(swiftdm: options.swiftdm, socket: socket, device: ["--net", "tap=\(network.tap)"],
                                                      launcher: network.launcher)
                    devices.append(.net(socket: socket, mac: Self.guestMAC))
                } catch {
                    boot.results[.iperf3] = .failure(.backendDidNotStart(command: "swiftdm vhost-user --net tap=\(network.tap)", output: "\(error)"))
                }
            case .peer:
                devices.append(.tapNet(ifname: network.tap, mac: Self.guestMAC))
            }
            if boot.results[.iperf3] == nil {
                script.append(IperfGuestScript(hostAddress: network.hostAddress, guestAddress: Self.guestAddress, seconds: options.iperfSeconds,
                                               placement: options.iperfPlacement).text)
            }
        }
        let carried = scenarios.filter { boot.results[$0] == nil }
        guard !carried.isEmpty else { return boot }

        // QEMU runs in the namespace on both sides when the tap is in use (it must for its
        // own tap; on swiftdm's side it only reaches sockets), so the two guests differ only
        // in who serves their devices.
        var guest = QemuGuest(kit: kit, machine: .q35, devices: devices, command: CommandInitrd.command,
                              useToolsInitrd: true, memoryMiB: options.guestMemoryMiB, cpus: options.guestCPUs,
                              launcher: carried.contains(.iperf3) ? (network?.launcher ?? []) : [],
                              accelerator: options.accelerator)
        let run: GuestRun
        do {
            // The script is longer than the kernel command line carries: it goes in the initrd.
            let initrd = "\(options.directory)/\(tag)-initrd.img"
            defer { unlink(initrd) }
            try CommandInitrd.write(script: script.joined(separator: "\n"), base: kit.toolsInitrd ?? kit.initrd, to: initrd)
            guest.initrdPath = initrd
            run = try guest.run(timeout: .seconds(bootBudgetSeconds(carried)))
        } catch {
            for s in carried { boot.results[s] = .failure(.guestRunFailed(guest: "the guest under qemu-system-x86_64", detail: "\(error)")) }
            return boot
        }
        boot.wallSeconds = run.wallSeconds
        boot.fioEngine = run.reported("fio-engine")
        for s in carried {
            boot.results[s] = Result { () throws(StorageBenchError) in
                switch s {
                case .fio: try Self.fioSample(run, jobs: options.fioJobs)
                case .iperf3: try Self.iperfSample(run)
                }
            }
        }
        return boot
    }

    /// Generous: two minutes to boot and power off, plus every job's own time with slack.
    private func bootBudgetSeconds(_ scenarios: [GuestBenchScenario]) -> Int {
        var seconds = 120
        if scenarios.contains(.fio) { seconds += options.fioJobs.count * (options.fioSeconds + options.fioRampSeconds + 10) }
        if scenarios.contains(.iperf3) { seconds += 2 * (options.iperfSeconds + 15) + 20 }
        return seconds
    }

    /// The fio figures the guest reported, one group per job.
    static func fioSample(_ run: GuestRun, jobs: [GuestFioJob]) throws(StorageBenchError) -> GuestBenchSample {
        var sample: GuestBenchSample = [:]
        for job in jobs {
            guard let line = run.reported("fio-\(job.key)") else {
                throw .guestRunFailed(guest: "fio \(job.name) in the guest", detail: "no result (status \(run.reported("fio-\(job.key)-status") ?? "none")); \(guestEnding(run))")
            }
            for (figure, value) in GuestBenchFigure.fio(job, try FioTerseResult.parse(line, writes: job.writes)) { sample[figure] = value }
        }
        return sample
    }

    /// The iperf3 figures the guest reported, both directions.
    static func iperfSample(_ run: GuestRun) throws(StorageBenchError) -> GuestBenchSample {
        var sample: GuestBenchSample = [:]
        for direction in IperfResult.Direction.allCases {
            guard let r = IperfResult(run, direction: direction) else {
                throw .guestRunFailed(guest: "iperf3 \(direction.label) in the guest",
                                      detail: "no result (status \(run.reported("\(direction.key)-status") ?? "none"), ping status \(run.reported("ping-status") ?? "none")); \(guestEnding(run))")
            }
            for (figure, value) in GuestBenchFigure.iperf(direction.label, gigabitsPerSecond: r.gigabitsPerSecond, retransmits: r.retransmits) {
                sample[figure] = value
            }
        }
        return sample
    }

    /// How the guest ended, and the last lines it printed.
    static func guestEnding(_ run: GuestRun) -> String {
        let tail = run.console.split(separator: "\n").suffix(6).joined(separator: " / ")
        let status = run.exitStatus.map { "its command exited \($0)" } ?? (run.hostStatus == nil ? "QEMU was killed or crashed" : "it never finished its command")
        return "\(status) after \(Int(run.wallSeconds)) s; console ends: \(tail)"
    }

    /// One progress line's figures: per row, its rate (and for fio, the median latency).
    static func summary(_ sample: GuestBenchSample, _ scenario: GuestBenchScenario, _ options: GuestBenchOptions) -> String {
        let figures = GuestBenchReport.figures(scenario, options)
        var rows: [String] = []
        for f in figures where !rows.contains(f.row) { rows.append(f.row) }
        return rows.map { row in
            let parts = [("IOPS", ""), ("Gbit/s", ""), ("lat p50 µs", "p50 ")].compactMap { label, prefix in
                sample[GuestBenchFigure(row: row, label: label)].map { prefix + StorageBenchReport.format($0) + " " + label.replacingOccurrences(of: "lat p50 ", with: "") }
            }
            return "\(row) \(parts.joined(separator: ", "))"
        }.joined(separator: "; ")
    }
}
