import GuestKit

/// Everything `swiftdm bench` needs to know for the real-Linux scenarios.
public struct GuestBenchOptions: Sendable {
    /// Which scenarios, in table order.
    public var scenarios: [GuestBenchScenario]
    /// Alternating rounds: each boots one guest with swiftdm's devices, then one with the peers'.
    public var rounds: Int
    /// fio: the jobs, seconds measured per job and seconds of ramp-up fio does not count.
    public var fioJobs: [GuestFioJob]
    public var fioSeconds: Int
    public var fioRampSeconds: Int
    /// iperf3: seconds per direction.
    public var iperfSeconds: Int
    /// The swiftdm executable whose `vhost-user` is measured.
    public var swiftdm: String
    /// Appended to swiftdm's `--blk IMAGE` (as for the storage scenarios); empty for its defaults.
    public var swiftdmDiskOptions: String = ""
    /// `qemu-storage-daemon`, `nil` when not installed.
    public var qemuStorageDaemon: String?
    /// Where the guest kit is (built there if it is not yet).
    public var kitDirectory: String
    /// Where the image and sockets live (tmpfs, as for the storage scenarios).
    public var directory: String
    /// The fio image's size in bytes (a multiple of 1 MiB).
    public var imageSize: UInt64
    /// The guest: RAM in MiB and vCPUs.
    public var guestMemoryMiB: Int = 512
    public var guestCPUs: Int = 2
    /// How QEMU runs the guest (TCG here: this machine kind's KVM does not run unmodified guests).
    public var accelerator: QemuAccelerator = .preferred

    /// Where the iperf3 guest runs its work: the device's interrupts (and so the receive
    /// softirq) on vCPU 0, the client on vCPU 1, the same split in every boot on either side;
    /// `nil` with one vCPU.
    public var iperfPlacement: IperfGuestScript.Placement? {
        guestCPUs > 1 ? IperfGuestScript.Placement(interruptCPU: 0, clientCPU: 1) : nil
    }

    /// The defaults: `quick` is 3 rounds of fio 3 s per job and iperf3 3 s per direction (about
    /// 40 s a boot under TCG here, so about four minutes), otherwise 5 rounds of 5 s.
    public static func defaults(quick: Bool, swiftdm: String) -> GuestBenchOptions {
        GuestBenchOptions(
            scenarios: GuestBenchScenario.allCases, rounds: quick ? 3 : 5,
            fioJobs: GuestFioJob.standard, fioSeconds: quick ? 3 : 5, fioRampSeconds: 1, iperfSeconds: quick ? 3 : 5,
            swiftdm: swiftdm, qemuStorageDaemon: HostCommand.path(of: "qemu-storage-daemon"),
            kitDirectory: BuiltGuestKit.defaultDirectory, directory: "/dev/shm", imageSize: 256 << 20)
    }
}
