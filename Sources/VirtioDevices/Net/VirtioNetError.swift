import DeviceModel

/// Why a virtio-net device could not be created.
public enum VirtioNetError: Error, Equatable, CustomStringConvertible {
    /// The MTU is below the 68 bytes IPv4 needs (§5.1.4.1).
    case invalidMTU(UInt16)
    /// The queue size is not a power of two in 1...32768 (§2.7).
    case invalidQueueSize(UInt16)
    /// The queue-pair count is outside 1...``VirtioNetConfiguration/maximumQueuePairs``.
    case invalidQueuePairs(Int)
    /// Each queue pair needs its own backend (one tap queue each).
    case backendCount(backends: Int, queuePairs: Int)
    /// The device's I/O thread could not start.
    case eventLoop(EventLoopError)

    public var description: String {
        switch self {
        case .invalidMTU(let m): "virtio-net MTU \(m) is outside 68...65535"
        case .invalidQueueSize(let s): "virtio-net queue size \(s) is not a power of two in 1...32768"
        case .invalidQueuePairs(let n): "virtio-net: \(n) queue pairs, expected 1...\(VirtioNetConfiguration.maximumQueuePairs)"
        case .backendCount(let b, let n): "virtio-net: \(b) backends for \(n) queue pairs (one each)"
        case .eventLoop(let e): "virtio-net: \(e)"
        }
    }
}
