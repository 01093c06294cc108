import Foundation

/// One direction of a guest's iperf3 exchange with the host, parsed from what
/// ``IperfGuestScript`` printed.
public struct IperfResult: Sendable, Equatable, CustomStringConvertible {
    /// Which way the data flowed.
    public enum Direction: String, Sendable, CaseIterable {
        /// The guest sends (iperf3's default).
        case guestToHost
        /// The host sends (`-R`).
        case hostToGuest

        /// The prefix of the script's keys: `up-…`, `down-…`.
        public var key: String { self == .guestToHost ? "up" : "down" }
        /// "guest→host", "host→guest".
        public var label: String { self == .guestToHost ? "guest→host" : "host→guest" }
    }

    /// Megabytes and megabits per second the receiving side counted.
    public let megabytes: Double
    public let megabitsPerSecond: Double
    /// TCP retransmissions the sender counted.
    public let retransmits: Int

    /// The figures as they are.
    public init(megabytes: Double, megabitsPerSecond: Double, retransmits: Int) {
        self.megabytes = megabytes
        self.megabitsPerSecond = megabitsPerSecond
        self.retransmits = retransmits
    }

    /// The `direction` figures of `run`; `nil` when the guest reported none (iperf3 failed).
    public init?(_ run: GuestRun, direction: Direction) {
        guard let mb = run.reported("\(direction.key)-mbytes").flatMap(Double.init),
              let rate = run.reported("\(direction.key)-mbits").flatMap(Double.init) else { return nil }
        self.init(megabytes: mb, megabitsPerSecond: rate, retransmits: run.reported("\(direction.key)-retr").flatMap(Int.init) ?? 0)
    }

    /// The receiver's rate in Gbit/s.
    public var gigabitsPerSecond: Double { megabitsPerSecond / 1000 }

    /// "1.234 Gbit/s (456 MB, 7 retransmits)".
    public var description: String { String(format: "%.3f Gbit/s (%.0f MB, %d retransmits)", gigabitsPerSecond, megabytes, retransmits) }
}
