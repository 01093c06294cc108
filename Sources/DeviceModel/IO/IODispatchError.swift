/// Why an ``IORequest`` could not be carried out (the guest still gets a defined result).
public enum IODispatchError: Error, Equatable, CustomStringConvertible {
    /// The access size is not 1, 2, 4 or 8.
    case invalidSize(Int)
    /// The repeat count is 0.
    case invalidCount(UInt32)
    /// The request's data buffer (`data_is_ptr`) is not guest RAM.
    case badBuffer(GuestMemoryError)
    /// A buffered request arrived without a ``GuestMemory`` to resolve it.
    case noGuestMemory

    public var description: String {
        switch self {
        case .invalidSize(let s): "I/O access size \(s) is not 1, 2, 4 or 8"
        case .invalidCount(let c): "I/O repeat count \(c) is invalid"
        case .badBuffer(let e): "I/O data buffer: \(e)"
        case .noGuestMemory: "I/O data buffer given but no guest memory attached"
        }
    }
}
