import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Counts every request a vCPU hands over, by address, with the time spent serving it: an
/// ``IORequestSink`` placed in front of the machine's real sink when a run is profiled
/// (`swiftdm run --timings`).
///
/// It answers "which exits does this guest take, and how much of the run is the device model's
/// work rather than the guest's": each address the guest touched, its device's name, how often
/// and for how long. One lock per request, so only for profiling runs.
public final class IOExitProfile: IORequestSink {
    /// One address the guest accessed.
    public struct Site: Hashable, Sendable, CustomStringConvertible {
        public let space: IOSpace
        public let address: UInt64

        public var description: String { "\(space) 0x\(String(address, radix: 16))" }
    }

    /// What happened at one ``Site``.
    public struct Tally: Sendable, Equatable {
        /// Requests for the site (a string-I/O exit counts once).
        public var count: UInt64 = 0
        /// Time spent in the sink serving them.
        public var nanoseconds: UInt64 = 0
    }

    /// One row of ``report(top:)``.
    public struct Row: Sendable {
        public let site: Site
        /// The registration serving the site, or `"unclaimed"`.
        public let name: String
        public let tally: Tally
    }

    private let inner: any IORequestSink
    private let dispatcher: IODispatcher
    private let tallies = Mutex<[Site: Tally]>([:])

    /// Profiles the requests `inner` serves; `dispatcher` names the sites.
    public init(wrapping inner: any IORequestSink, names dispatcher: IODispatcher) {
        self.inner = inner
        self.dispatcher = dispatcher
    }

    public func handle(_ request: inout IORequest, vcpu: Int) throws(IORequestSinkError) {
        let start = Self.now()
        defer {
            let elapsed = Self.now() &- start
            let site = Site(space: request.space, address: request.address)
            tallies.withLock {
                $0[site, default: Tally()].count += 1
                $0[site, default: Tally()].nanoseconds += elapsed
            }
        }
        try inner.handle(&request, vcpu: vcpu)
    }

    /// Requests and time per address space.
    public var totals: [IOSpace: Tally] {
        tallies.withLock { all in
            var byKind: [IOSpace: Tally] = [:]
            for (site, t) in all {
                byKind[site.space, default: Tally()].count += t.count
                byKind[site.space, default: Tally()].nanoseconds += t.nanoseconds
            }
            return byKind
        }
    }

    /// The `top` busiest sites, most requests first.
    public func report(top: Int) -> [Row] {
        let all = tallies.withLock { $0 }
        return all.sorted { ($0.value.count, $1.key.address) > ($1.value.count, $0.key.address) }.prefix(max(0, top)).map { site, tally in
            let name = dispatcher.addressSpace(site.space).lookup(site.address)?.name ?? "unclaimed"
            return Row(site: site, name: name, tally: tally)
        }
    }

    private static func now() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) &* 1_000_000_000 &+ UInt64(t.tv_nsec)
    }
}
