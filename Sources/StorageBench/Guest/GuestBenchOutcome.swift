/// What one guest boot measured for one scenario.
public typealias GuestBenchSample = [GuestBenchFigure: Double]

/// What one side of a real-Linux scenario produced over the rounds.
public enum GuestBenchOutcome: Sendable, Equatable {
    /// Not run at all, and why (no root, no QEMU, no guest kit, no peer installed).
    case notRun(String)
    /// A boot failed, and why; the samples of the boots before it are kept.
    case failed(String, [GuestBenchSample])
    /// One sample per round.
    case measured([GuestBenchSample])

    /// The samples taken, whatever the outcome.
    public var samples: [GuestBenchSample] {
        switch self {
        case .notRun: []
        case .failed(_, let s), .measured(let s): s
        }
    }

    /// Whether this side still runs in the next round.
    public var isRunning: Bool {
        if case .measured = self { return true }
        return false
    }

    mutating func append(_ sample: GuestBenchSample) {
        if case .measured(let s) = self { self = .measured(s + [sample]) }
    }

    mutating func fail(_ why: String) {
        self = .failed(why, samples)
    }
}
