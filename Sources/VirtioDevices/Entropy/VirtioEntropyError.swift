import Virtio

/// Why a virtio-rng device could not be created.
public enum VirtioEntropyError: Error, Equatable, CustomStringConvertible {
    /// A rate limit of zero bytes or a non-positive period.
    case invalidRateLimit(bytes: UInt64, period: Duration)
    /// The queue size is not a power of two in 1...32768.
    case invalidQueueSize(UInt16)
    /// The device's I/O thread could not start.
    case runtime(VirtioDeviceError)

    public var description: String {
        switch self {
        case .invalidRateLimit(let b, let p): "entropy rate limit \(b) bytes per \(p) must be positive"
        case .invalidQueueSize(let s): "entropy queue size \(s) is not a power of two in 1...32768"
        case .runtime(let e): "entropy device: \(e)"
        }
    }
}
