import ArgumentParser
import StorageBench
#if canImport(Glibc)
import Glibc
#endif

/// `swiftdm bench`: swiftdm side by side with its peers, alternating within one run. Parses
/// options and prints; the scenarios live in the StorageBench library. Runs in `swiftdm-kit`
/// (it drives processes through Foundation), handed over by the launcher's `BenchForwarder`.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark swiftdm against its peers, alternating rounds within one run.",
        discussion: """
            vhost-user-blk without a guest: the project's own vhost-user frontend drives \
            `swiftdm vhost-user --blk` and `qemu-storage-daemon --export type=vhost-user-blk` on the \
            same image (4k random read and write at queue depth 1 and 32, 1 MiB sequential reads), \
            each side a fresh process per measurement; the host's `fio --ioengine=io_uring` on the \
            image is the limit. Prints min and median per side and the ratio of the medians. \
            Real Linux under QEMU (linux-fio, linux-iperf3): fio in the guest on a vhost-user-blk \
            disk (swiftdm vs qemu-storage-daemon), iperf3 both ways on virtio-net (swiftdm's \
            vhost-user-net vs QEMU's own on a tap), one guest boot per side and round. \
            These machines are noisy: only ratios within one run mean anything.
            """)

    @Flag(help: "3 rounds of 2 s per side (about two minutes) instead of 5 rounds of 5 s.")
    var quick = false

    @Option(help: "Alternating rounds per scenario (at least 3).")
    var rounds: Int?

    @Option(help: ArgumentHelp("Seconds per measurement.", valueName: "SECONDS"))
    var seconds: Double?

    @Option(name: .customLong("image-size"), help: ArgumentHelp("Image size: bytes, or with K, M, G (default 1G).", valueName: "SIZE"))
    var imageSize: String?

    @Option(help: ArgumentHelp("Directory for the image and sockets (default /dev/shm, a tmpfs).", valueName: "DIR"))
    var dir: String?

    @Option(help: ArgumentHelp("The swiftdm executable to measure (default: the swiftdm that started this command).", valueName: "PATH"))
    var swiftdm: String?

    @Option(name: .customLong("scenario"),
            help: ArgumentHelp("Run only this scenario (repeatable), by its table name with dashes: 4k-randread-qd1, 4k-randwrite-qd32, 1m-read-qd8, 4k-randread-qd1-polled; linux-fio, linux-iperf3; kvm.",
                               valueName: "NAME"))
    var scenarioNames: [String] = []

    /// `--scenario kvm`: the KVM scenarios (SeaBIOS to an MBR with peak RSS, exit cost).
    static let kvmScenarioKey = "kvm"

    /// The KVM scenarios run with every scenario, with `--scenario kvm` or alone with `--kvm-only`.
    var runsKVMScenarios: Bool { scenarioNames.isEmpty || scenarioNames.contains { $0.lowercased() == Self.kvmScenarioKey } }

    /// The standard scenarios `--scenario` picks, in table order.
    private var chosenScenarios: [BenchScenario] {
        get throws {
            guard !scenarioNames.isEmpty else { return BenchScenario.standard }
            for name in scenarioNames where BenchScenario.standard.first(where: { $0.key == name.lowercased() }) == nil
                && GuestBenchScenario(rawValue: name.lowercased()) == nil && name.lowercased() != Self.kvmScenarioKey {
                throw ValidationError("--scenario \(name): not one of \((BenchScenario.standard.map(\.key) + GuestBenchScenario.allCases.map(\.key) + [Self.kvmScenarioKey]).joined(separator: ", "))")
            }
            return BenchScenario.standard.filter { scenarioNames.map { $0.lowercased() }.contains($0.key) }
        }
    }

    @Option(name: .customLong("swiftdm-disk-options"),
            help: ArgumentHelp("Appended to swiftdm's --blk IMAGE, to compare its engines (e.g. aio=io_uring, cache=none).",
                               valueName: "OPTIONS"))
    var swiftdmDiskOptions: String?

    @Option(name: .customLong("qsd-poll-max-ns"),
            help: ArgumentHelp("Run qemu-storage-daemon's export in an iothread polling up to N ns (compare with --swiftdm-disk-options poll-max-ns=N).",
                               valueName: "N"))
    var qsdPollMaxNanoseconds: Int?

    @Flag(name: .customLong("kvm-only"), help: "Only the KVM scenarios: SeaBIOS to an MBR with peak RSS, and exit cost, on swiftdm run, QEMU and a C KVM loop.")
    var kvmOnly = false

    @Flag(name: .customLong("no-guest"), help: "Leave out the real-Linux scenarios (linux-fio, linux-iperf3).")
    var noGuest = false

    @Option(name: .customLong("guest-seconds"),
            help: ArgumentHelp("Seconds per fio job and per iperf3 direction in the real-Linux scenarios (default 3 with --quick, else 5).", valueName: "SECONDS"))
    var guestSeconds: Int?

    func validate() throws {
        if let guestSeconds, guestSeconds < 1 { throw ValidationError("--guest-seconds must be at least 1") }
        if let qsdPollMaxNanoseconds, qsdPollMaxNanoseconds < 0 { throw ValidationError("--qsd-poll-max-ns must not be negative") }
        _ = try chosenScenarios
        if let rounds, rounds < 3 { throw ValidationError("--rounds must be at least 3 (medians of fewer mean little)") }
        if let seconds, !(seconds > 0) { throw ValidationError("--seconds must be positive") }
        if let imageSize {
            guard let size = StorageBenchOptions.parseSize(imageSize), size >= 64 << 20, size % (1 << 20) == 0 else {
                throw ValidationError("--image-size \(imageSize): give a multiple of 1 MiB, at least 64M")
            }
        }
    }

    func run() throws {
        if kvmOnly { return runKVMScenarios() }
        var options = StorageBenchOptions.defaults(quick: quick)
        if let rounds { options.rounds = rounds }
        if let seconds { options.seconds = seconds }
        if let imageSize, let size = StorageBenchOptions.parseSize(imageSize) { options.imageSize = size }
        if let dir { options.directory = dir }
        if let swiftdm { options.swiftdm = swiftdm }
        options.scenarios = try chosenScenarios
        if let swiftdmDiskOptions { options.swiftdmDiskOptions = swiftdmDiskOptions }
        options.qsdPollMaxNanoseconds = qsdPollMaxNanoseconds
        // A backend that goes away mid-write must not kill the bench with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)

        guard !options.scenarios.isEmpty else {
            runGuestScenarios(swiftdm: options.swiftdm, swiftdmDiskOptions: options.swiftdmDiskOptions)
            if runsKVMScenarios { runKVMScenarios() }
            return
        }

        // Unbuffered writes, so the header, the progress lines (stderr) and the table appear
        // in the order they happen.
        Self.emit("swiftdm bench: vhost-user-blk, swiftdm \(options.swiftdm)\(options.swiftdmDiskOptions.isEmpty ? "" : " (--blk …,\(options.swiftdmDiskOptions))") vs qemu-storage-daemon \(options.qemuStorageDaemon ?? "(not installed)")\(options.qsdPollMaxNanoseconds.map { " (iothread, poll-max-ns=\($0))" } ?? ""), fio \(options.fio ?? "(not installed)")", to: STDOUT_FILENO)
        let runner = StorageBenchRunner(options: options) { Self.emit($0, to: STDERR_FILENO) }
        // Only an unusable image or option ends the run with an error (its message names the
        // value); a side that fails is reported in the table.
        let report = try runner.run()
        Self.emit(report.table, to: STDOUT_FILENO)
        runGuestScenarios(swiftdm: options.swiftdm, swiftdmDiskOptions: options.swiftdmDiskOptions)
        if runsKVMScenarios { runKVMScenarios() }
    }

    /// Writes a line to `fd`. `write(2)`.
    static func emit(_ line: String, to fd: Int32) {
        var text = line + "\n"
        text.withUTF8 { b in
            var done = 0
            while done < b.count {
                let n = write(fd, b.baseAddress.map { $0 + done }, b.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return }
                done += n
            }
        }
    }
}
