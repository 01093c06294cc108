import DeviceModel
import X86Machine
#if canImport(Glibc)
import Glibc
#endif

/// Snapshots of a running PC: paused vCPUs, quiesced devices, guest RAM — written to a
/// directory (``MachineSnapshot``) that a new process continues from
/// (``PCMachine/init(configuration:accelerator:serialOutput:debugOutput:interposer:profileExits:restoring:logger:)``,
/// `swiftdm run --restore DIR`).
extension PCMachine {
    /// What a snapshot cost.
    public struct SnapshotReport: Sendable {
        public var directory: String
        /// Bytes of RAM with data (zero pages are holes).
        public var ramBytesWritten: UInt64
        public var stateBytes: Int
        public var records: Int
        public var duration: Duration
    }

    /// Saves the machine to `directory` (created if missing). The vCPUs must be paused
    /// (``pause()``, QMP `stop`): the snapshot is their state at that point. Devices are
    /// stopped at a safe point for the save — every request they had taken completes first,
    /// interrupt included, before the processors are read — and continue afterwards, so the
    /// machine can run on (QMP `cont`) or be ended.
    ///
    /// - Throws: ``MachineError/controlRefused(_:)`` when the accelerator cannot save its
    ///   processors or they are not paused (found once the devices were stopped, which then
    ///   simply continue); ``MachineError/snapshotUnsupported(device:reason:)``
    ///   for a device whose state is not captured; ``MachineError/fileUnusable(option:path:reason:)``.
    @discardableResult
    public func saveSnapshot(to directory: String) throws(MachineError) -> SnapshotReport {
        let started = ContinuousClock.now
        guard let snapshottable = accelerator as? any SnapshottableAccelerator else {
            throw .controlRefused("this machine's accelerator cannot save its processors")
        }
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw .fileUnusable(option: "snapshot", path: directory, reason: String(cString: strerror(errno)))
        }
        // Devices first: stopping them at a safe point completes the requests they took, and
        // those completions raise their interrupts now. Read before that, the processors'
        // interrupt controllers would miss them, and the restored guest would find the
        // requests done in its used rings without ever being told (a Linux block request
        // waits forever). KVM takes an MSI through an irqfd into the paused vCPU's LAPIC.
        var archive = try saveDeviceState()
        defer { resumeDevices() }
        let processors: [DeviceStateRecord]
        do {
            processors = try snapshottable.saveProcessorState()
        } catch {
            throw .controlRefused("saving the processors: \(error) (stop the machine first)")
        }
        archive.records = [MachineSnapshot.machineRecord(configuration)] + processors + archive.records
        let snapshot = MachineSnapshot(directory: directory, archive: archive)
        let ramBytes: UInt64
        do {
            ramBytes = try GuestRAMFile.write(ram.regions, to: snapshot.ramPath)
        } catch {
            throw .fileUnusable(option: "snapshot", path: snapshot.ramPath, reason: error.reason)
        }
        let bytes = archive.encoded()
        try Self.writeAtomically(bytes, to: snapshot.statePath)
        return SnapshotReport(directory: directory, ramBytesWritten: ramBytes, stateBytes: bytes.count,
                              records: archive.records.count, duration: ContinuousClock.now - started)
    }

    /// Writes `bytes` to `path` through a temporary file and a rename, so a snapshot directory
    /// never holds half a state file.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws(MachineError) {
        let temporary = path + ".partial"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .fileUnusable(option: "snapshot", path: temporary, reason: String(cString: strerror(errno))) }
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let e = errno
                close(fd)
                throw .fileUnusable(option: "snapshot", path: temporary, reason: String(cString: strerror(e)))
            }
            written += n
        }
        let synced = fsync(fd) == 0
        close(fd)
        guard synced, rename(temporary, path) == 0 else {
            throw .fileUnusable(option: "snapshot", path: path, reason: String(cString: strerror(errno)))
        }
    }

    /// Loads `snapshot` into this freshly built machine: RAM, then the processors (in place of
    /// the boot state), then the devices. Called from the initializer, before anything runs.
    func restore(_ snapshot: MachineSnapshot, interposed: Bool) throws(MachineError) {
        guard !interposed else { throw .conflictingOptions("--restore cannot be combined with --ioreq xen-sim") }
        guard let snapshottable = accelerator as? any SnapshottableAccelerator else {
            throw .controlRefused("this machine's accelerator cannot restore processors")
        }
        try snapshot.check(against: configuration)
        // The boot image was just written into RAM; the snapshot's RAM replaces all of it.
        // Dropping the pages (anonymous memory reads zero again) keeps RAM the snapshot
        // leaves as holes untouched, unlike clearing it.
        for region in ram.regions where madvise(region.host, Int(region.length), MADV_DONTNEED) != 0 {
            memset(region.host, 0, Int(region.length))
        }
        do {
            try GuestRAMFile.read(snapshot.ramPath, into: ram.regions)
        } catch {
            throw .fileUnusable(option: "--restore", path: snapshot.ramPath, reason: error.reason)
        }
        do {
            try snapshottable.createProcessors(count: configuration.cpus, restoring: snapshot.archive.records.filter { $0.id.hasPrefix("kvm/") })
        } catch let e as DeviceStateError {
            throw .deviceState(e)
        } catch {
            throw .setupFailed("restoring the processors: \(error)")
        }
        var devices = snapshot.archive
        devices.records.removeAll { $0.id == MachineSnapshot.machineRecordID || $0.id.hasPrefix("kvm/") }
        try restoreDeviceState(devices)
    }
}
