import Foundation
import GuestKit

/// One boot of the guest kit on `swiftdm run`, described once and run either directly on a
/// host whose KVM runs Linux natively or inside the nested-KVM lab (``KVMLinuxBench``).
struct KVMLinuxScenario: Sendable {
    /// A disk image the host writes before the run: `randomPrefix` random bytes, then zeros.
    struct Disk: Sendable {
        var name: String
        var size = 8 << 20
        var randomPrefix = 0
        /// `swiftdm run --disk` options after the path, such as `,readonly=on`.
        var options = ""
    }

    var name: String
    var command: String
    var transport: SwiftdmRunGuest.Transport = .pci
    var cpus = 1
    var rng = false
    var virtioConsole = false
    var disks: [Disk] = []
    var shutdownArguments = ["panic=-1", "reboot=t"]
    /// A tap the host side creates with ``hostAddress`` for `--net tap=NAME` (in the lab: in
    /// L1; directly: in a network namespace).
    var tap: String?
    /// Run with `--timings` (the phases, with the guest init's boot-complete signal).
    var timings = false
    /// Boot the kit's tools initrd (with `iperf3`; the host side then runs an iperf3 server).
    var useToolsInitrd = false

    static let hostAddress = "10.77.0.1"
    static let guestAddress = "10.77.0.2"

    /// The host side's iperf3 server, as a daemon on ``hostAddress``.
    static let iperf3Server = ["iperf3", "-s", "-D", "-B", hostAddress, "-I", iperf3PIDFile]
    static let iperf3PIDFile = "/tmp/swiftdm-kvm-iperf3.pid"

    /// L1 shell lines creating ``tap`` (busybox `tunctl`, `ip`), and the iperf3 server when
    /// the guest has iperf3.
    var labPreparation: String {
        guard let tap else { return "" }
        let tapLines = "tunctl -t \(tap) > /dev/null && ip addr add \(Self.hostAddress)/24 dev \(tap) && ip link set \(tap) up"
        return useToolsInitrd ? tapLines + " && " + Self.iperf3Server.joined(separator: " ") : tapLines
    }

    func guest(swiftdm: String, kit: BuiltGuestKit, diskPaths: [String]) -> SwiftdmRunGuest {
        var g = SwiftdmRunGuest(swiftdm: swiftdm, kit: kit, command: command, transport: transport,
                                disks: zip(diskPaths, disks).map { $0 + $1.options }, rng: rng,
                                virtioConsole: virtioConsole, cpus: cpus)
        g.shutdownArguments = shutdownArguments
        if let tap { g.nets = ["tap=\(tap)"] }
        g.timings = timings
        g.useToolsInitrd = useToolsInitrd
        return g
    }
}

/// What a scenario showed: the guest's run and, per disk, what the host saw afterwards.
struct KVMLinuxOutcome: Sendable {
    let run: GuestRun
    /// SHA-256 of each disk's random prefix as the host wrote it.
    let writtenSHA256: [String: String]
    /// Each disk's first 64 bytes after the run, as text up to the first NUL, read on the host
    /// (in the lab: by L1, which holds the image).
    let headAfterRun: [String: String]
    /// Where the run happened, for messages.
    let place: String
}
