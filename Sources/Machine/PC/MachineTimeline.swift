import Synchronization

/// When a machine's run passed its milestones, measured as Firecracker measures boot time:
/// from the machine's construction, to its vCPUs starting, to the guest's boot-complete
/// signal (``X86Machine/BootTimerPort``), to the guest's power-off or reset.
public final class MachineTimeline: Sendable {
    /// One milestone.
    public enum Milestone: String, Sendable, CaseIterable {
        /// The machine began to be built (RAM, devices, boot image).
        case setupStarted = "setup"
        /// The vCPUs were started: the kernel (or firmware) runs from here.
        case vcpusStarted = "vcpus started"
        /// The guest wrote its boot-complete signal (its init ran).
        case bootCompleted = "boot complete"
        /// The guest asked to power off or reset.
        case guestStopped = "guest stopped"
    }

    private let instants = Mutex<[Milestone: ContinuousClock.Instant]>([:])

    public init() {}

    /// Records `milestone` now, unless it was recorded before (the first time counts).
    public func record(_ milestone: Milestone, at instant: ContinuousClock.Instant = .now) {
        instants.withLock { if $0[milestone] == nil { $0[milestone] = instant } }
    }

    /// When `milestone` happened, if it has.
    public func instant(of milestone: Milestone) -> ContinuousClock.Instant? {
        instants.withLock { $0[milestone] }
    }

    /// The phases between consecutive milestones that happened, in order: VM setup, kernel
    /// entry to init, init to power-off.
    public var phases: [(name: String, duration: Duration)] {
        let all = instants.withLock { $0 }
        var result: [(String, Duration)] = []
        var previous: (Milestone, ContinuousClock.Instant)?
        for m in Milestone.allCases {
            guard let t = all[m] else { continue }
            if let (p, pt) = previous { result.append(("\(p.rawValue) → \(m.rawValue)", t - pt)) }
            previous = (m, t)
        }
        return result
    }
}
