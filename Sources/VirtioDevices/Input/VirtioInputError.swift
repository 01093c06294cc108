import Virtio

/// Why a virtio-input device could not be created.
public enum VirtioInputError: Error, Equatable, CustomStringConvertible {
    /// The queue size is not a power of two in 1...32768.
    case invalidQueueSize(UInt16)
    /// The backlog limit is outside ``VirtioInputConfiguration/backlogLimitRange``.
    case invalidBacklogLimit(Int)
    /// A name or serial the driver cannot take (`field` is "name" or "serial").
    case invalidString(field: String, value: String, reason: String)
    /// The device's I/O thread could not start.
    case runtime(VirtioDeviceError)

    public var description: String {
        switch self {
        case .invalidQueueSize(let s): "virtio-input queue size \(s) is not a power of two in 1...32768"
        case .invalidBacklogLimit(let l):
            "virtio-input backlog limit \(l) is outside \(VirtioInputConfiguration.backlogLimitRange)"
        case .invalidString(let field, let value, let reason): "virtio-input \(field) \"\(value)\": \(reason)"
        case .runtime(let e): "virtio-input: \(e)"
        }
    }
}
