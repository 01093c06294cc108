import Logging
import Synchronization

/// Guest frames the device model may have written since they were last reported to Xen with
/// `xendevicemodel_modified_memory`.
///
/// Xen's log-dirty mode (live migration, `xl save`) sees only the guest's own writes; frames a
/// device model writes through foreign mappings must be reported, or the copy taken to the
/// other side misses them (QEMU reports each DMA unmap with `xen_modified_memory`). The guest
/// RAM mapping cache records every access here (``record(firstFrame:count:)``, coalescing
/// runs); ``flush()`` reports the runs with one call each, at the points where the guest can
/// first observe what was written: before an interrupt is raised and before an ioreq is
/// answered. Outside log-dirty mode Xen returns from the call at once.
///
/// Every access counts, reads included (the guest-memory API hands out writable bytes):
/// an extra frame costs migration one resend; a missing one would lose data.
///
/// Thread-safe: device threads record, any thread flushes; one lock guards the pending runs,
/// and hypervisor calls are made outside it.
public final class XenModifiedFrameLog: Sendable {
    public let control: any XenDeviceModelControl
    public let domid: XenDomainID
    /// Pending runs beyond which ``record(firstFrame:count:)`` flushes by itself.
    public static let maximumPendingRuns = 256
    private let logger: Logger
    /// Pending runs, `(first frame, frame count)`, most recent last.
    private let pending = Mutex<[(first: XenGuestFrame, count: UInt64)]>([])

    public init(control: any XenDeviceModelControl, domid: XenDomainID, logger: Logger = Logger(label: "swiftdm.xen.dirty")) {
        self.control = control
        self.domid = domid
        self.logger = logger
    }

    /// Notes frames `[firstFrame, firstFrame + count)` as possibly written. A run adjoining or
    /// overlapping one of the recent ones extends it.
    public func record(firstFrame: XenGuestFrame, count: Int) {
        guard count > 0 else { return }
        let (end, overflow) = firstFrame.addingReportingOverflow(UInt64(count))
        guard !overflow else { return }
        let full: Bool = pending.withLock { runs in
            // Accesses cluster (a buffer, then its ring); look at the last few runs only.
            for i in runs.indices.suffix(4).reversed() {
                let run = runs[i]
                if firstFrame <= run.first + run.count, end >= run.first {
                    let first = min(run.first, firstFrame)
                    runs[i] = (first, max(run.first + run.count, end) - first)
                    return false
                }
            }
            runs.append((firstFrame, UInt64(count)))
            return runs.count >= Self.maximumPendingRuns
        }
        if full { flush() }
    }

    /// Reports every pending run to Xen (`xendevicemodel_modified_memory`), merged and in
    /// order. A failed call is logged, not retried: the frames may have left the domain
    /// (ballooning) or the domain may be gone.
    public func flush() {
        let runs = pending.withLock { runs in
            let taken = runs
            runs.removeAll(keepingCapacity: true)
            return taken
        }
        guard !runs.isEmpty else { return }
        for run in Self.merged(runs) {
            var first = run.first
            var left = run.count
            while left > 0 {
                let n = UInt32(min(left, UInt64(UInt32.max)))
                do {
                    try control.modifiedMemory(domid: domid, firstFrame: first, count: n)
                } catch {
                    logger.debug("modified_memory of frames 0x\(String(first, radix: 16))+\(n): \(error)")
                }
                first += UInt64(n)
                left -= UInt64(n)
            }
        }
    }

    /// True when nothing waits to be reported.
    public var isEmpty: Bool { pending.withLock { $0.isEmpty } }

    /// `runs` sorted, with overlapping and adjoining runs joined.
    static func merged(_ runs: [(first: XenGuestFrame, count: UInt64)]) -> [(first: XenGuestFrame, count: UInt64)] {
        var out: [(first: XenGuestFrame, count: UInt64)] = []
        for run in runs.sorted(by: { $0.first < $1.first }) {
            if let last = out.last, run.first <= last.first + last.count {
                out[out.count - 1].count = max(last.first + last.count, run.first + run.count) - last.first
            } else {
                out.append(run)
            }
        }
        return out
    }
}
