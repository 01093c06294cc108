import GuestKit

/// The real-Linux half of `swiftdm bench`'s output: one table per scenario in the storage
/// table's style (min and median per side over the rounds, the ratio of the medians), the
/// notes saying what ran, and loud lines for what did not.
public struct GuestBenchReport: Sendable {
    /// One scenario's two sides.
    public struct Section: Sendable {
        public var scenario: GuestBenchScenario
        public var swiftdm: GuestBenchOutcome
        public var peer: GuestBenchOutcome

        /// The scenario and what each side produced.
        public init(scenario: GuestBenchScenario, swiftdm: GuestBenchOutcome, peer: GuestBenchOutcome) {
            self.scenario = scenario
            self.swiftdm = swiftdm
            self.peer = peer
        }
    }

    /// The options the run used (for the notes).
    public let options: GuestBenchOptions
    /// One per scenario, in order.
    public var sections: [Section] = []
    /// Whether qemu-storage-daemon ran with `aio=native,cache.direct=on` (else threads, buffered).
    public var qsdDirectIO = true
    /// The I/O engine fio used in the guest, as the guest reported it.
    public var fioEngine: String?
    /// Wall time of each guest boot (boot, tools, power-off), per side.
    public var wallSeconds: [GuestBenchSide: [Double]] = [:]

    /// An empty report for a run with `options`.
    public init(options: GuestBenchOptions) {
        self.options = options
    }

    /// The figures of `scenario`'s table, in order.
    static func figures(_ scenario: GuestBenchScenario, _ options: GuestBenchOptions) -> [GuestBenchFigure] {
        switch scenario {
        case .fio: options.fioJobs.flatMap { job in GuestBenchFigure.fioLabels.map { GuestBenchFigure(row: job.name, label: $0) } }
        case .iperf3: IperfResult.Direction.allCases.flatMap { d in GuestBenchFigure.iperfLabels.map { GuestBenchFigure(row: d.label, label: $0) } }
        }
    }

    /// Every table with its notes, as text (Markdown, like the storage table).
    public var table: String {
        sections.map(text(of:)).joined(separator: "\n\n")
    }

    /// One scenario's heading, table and notes.
    func text(of section: Section) -> String {
        let s = section.scenario
        let peer = s.peerLabel
        var lines = [heading(s), "",
                     "| scenario | figure | swiftdm min | swiftdm median | \(peer) min | \(peer) median | swiftdm/\(peer) |",
                     "|---|---|---:|---:|---:|---:|---:|"]
        for f in Self.figures(s, options) {
            let a = Self.stats(section.swiftdm, f), b = Self.stats(section.peer, f)
            let ratio = a.median.flatMap { x in b.median.map { y in y > 0 ? StorageBenchReport.format(x / y, digits: 2) + "×" : "–" } } ?? "–"
            lines.append("| \(f.row) | \(f.label) | \(a.minText) | \(a.medianText) | \(b.minText) | \(b.medianText) | \(ratio) |")
        }
        lines.append("")
        lines.append(notes(s))
        for (side, outcome) in [("swiftdm", section.swiftdm), (s.peerDescription, section.peer)] {
            switch outcome {
            case .notRun(let why): lines.append("NOT RUN \(s.key), \(side): \(why)")
            case .failed(let why, _): lines.append("FAILED \(s.key), \(side): \(why)")
            case .measured: break
            }
        }
        return lines.joined(separator: "\n")
    }

    private func heading(_ s: GuestBenchScenario) -> String {
        let guest = "Linux under QEMU \(options.accelerator) (q35, \(options.guestCPUs) vCPUs, \(options.guestMemoryMiB) MiB)"
        switch s {
        case .fio: return "\(s.key): \(guest), fio in the guest on /dev/vda (vhost-user-blk-pci): \(s.swiftdmDescription) vs \(s.peerDescription)"
        case .iperf3: return "\(s.key): \(guest), iperf3 between the guest and the host side of a tap (virtio-net-pci): \(s.swiftdmDescription) vs \(s.peerDescription)"
        }
    }

    private func notes(_ s: GuestBenchScenario) -> String {
        let boots = "\(options.rounds) rounds alternating swiftdm and \(s.peerLabel), each a fresh guest boot with fresh backends"
        let wall = GuestBenchSide.allCases.compactMap { side in
            wallSeconds[side].flatMap { StorageBenchReport.stats($0, missing: "").median }.map { "\(side == .peer ? "peer" : "swiftdm") \(Int($0.rounded())) s" }
        }
        let bootWall = wall.isEmpty ? "" : " (median wall time per boot: \(wall.joined(separator: ", ")))"
        switch s {
        case .fio:
            let qsdMode = options.qemuStorageDaemon == nil ? "not installed"
                : qsdDirectIO ? "aio=native,cache.direct=on" : "aio=threads,cache.direct=off (no O_DIRECT on \(options.directory))"
            return "\(boots)\(bootWall); fio \(options.fioSeconds) s per job after \(options.fioRampSeconds) s ramp, O_DIRECT, "
                + "ioengine \(fioEngine ?? "io_uring, else libaio"), on a \(options.imageSize >> 20) MiB image in \(options.directory); "
                + "qsd with \(qsdMode). Ratios are of medians: above 1 is better for IOPS, below 1 for latency."
        case .iperf3:
            let pinned = options.iperfPlacement.map {
                " (in the guest, the device's interrupts on vCPU \($0.interruptCPU), the client on vCPU \($0.clientCPU))"
            } ?? ""
            return "\(boots)\(bootWall); iperf3 \(options.iperfSeconds) s per direction\(pinned), the server on the tap's host side in a network "
                + "namespace; Gbit/s as the receiver counted, retransmits as the sender did. Above 1 is better for Gbit/s."
        }
    }

    static func stats(_ outcome: GuestBenchOutcome, _ figure: GuestBenchFigure) -> StorageBenchReport.Stats {
        let missing: String
        switch outcome {
        case .notRun: missing = "not run"
        case .failed: missing = "failed"
        case .measured: missing = "–"
        }
        return StorageBenchReport.stats(outcome.samples.compactMap { $0[figure] }, missing: missing)
    }
}
