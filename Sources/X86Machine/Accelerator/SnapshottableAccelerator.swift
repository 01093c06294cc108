import DeviceModel

/// An accelerator whose processor state can be saved while it is paused and loaded into a
/// freshly built one — the accelerator's part of a snapshot (the machine saves its devices
/// and RAM alongside). A capability of its own, as not every accelerator has it.
///
/// Restoring takes the place of ``X86Accelerator/createProcessors(count:boot:)``:
/// ```swift
/// try accelerator.mapRAM(ram)
/// // … load the saved RAM contents into `ram` …
/// try accelerator.mapFirmware(image)
/// let backend = try accelerator.directBackend(…)
/// try accelerator.createProcessors(count: n, restoring: records)
/// // … restore the devices …
/// try accelerator.start(sink: dispatcher)         // the clock is set here, then the vCPUs run
/// ```
public protocol SnapshottableAccelerator: PausableAccelerator {
    /// The processor state: the accelerator's own records (vCPUs, interrupt controllers,
    /// timers, clock), to store in a ``DeviceStateArchive`` with the devices' records.
    ///
    /// Only while ``PausableAccelerator/pause()`` holds the vCPUs (or before
    /// ``X86Accelerator/start(sink:)``); otherwise it throws, since running vCPUs change the
    /// state while it is read.
    func saveProcessorState() throws -> [DeviceStateRecord]

    /// Creates `count` vCPUs in the state `records` hold (as ``saveProcessorState()`` returned
    /// them, possibly among other devices' records, which are ignored) instead of a boot state.
    ///
    /// Every record is validated before any of it is loaded: a missing, truncated, damaged or
    /// foreign record throws a ``DeviceStateError`` naming it. Call after
    /// ``X86Accelerator/mapRAM(_:)`` with the saved RAM contents in place (a 32-bit PAE guest's
    /// page-directory pointers are read from RAM when its control registers are loaded) and
    /// before ``X86Accelerator/start(sink:)``; a restore that fails after validation leaves
    /// the accelerator unusable (build a new one).
    func createProcessors(count: Int, restoring records: [DeviceStateRecord]) throws
}
