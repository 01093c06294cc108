import Virtio

/// Settings for a ``VirtioEntropyDevice`` (virtio 1.2 §5.4).
public struct VirtioEntropyConfiguration: Sendable, Hashable {
    /// At most `bytes` of entropy per `period`, refilled continuously; requests beyond it
    /// wait (on a timer, not spinning). `nil`: unlimited.
    public var rateLimit: RateLimit?
    /// Maximum size of the request queue the driver may choose.
    public var queueSize: UInt16

    public struct RateLimit: Sendable, Hashable {
        public var bytes: UInt64
        public var period: Duration
        public init(bytes: UInt64, period: Duration) {
            self.bytes = bytes
            self.period = period
        }
    }

    public init(rateLimit: RateLimit? = nil, queueSize: UInt16 = 64) {
        self.rateLimit = rateLimit
        self.queueSize = queueSize
    }
}
