import DeviceModel

/// Why an operation on a ``SimulatedMachine`` (or one of its parts) failed.
public enum SimulationError: Error, Equatable, CustomStringConvertible {
    /// The dispatcher refused the request (bad size or count, bad data buffer).
    case dispatch(IODispatchError)
    /// Guest RAM refused an access or a layout.
    case guestMemory(GuestMemoryError)
    /// Registering a software ioeventfd failed.
    case ioEvent(IOEventError)
    /// Creating an eventfd failed.
    case eventNotifier(EventNotifierError)
    /// The allocator has no `requested` bytes left at `alignment`.
    case allocatorExhausted(requested: Int, alignment: UInt64, available: UInt64)
    /// An alignment that is zero or not a power of two.
    case invalidAlignment(UInt64)
    /// An allocation length that is zero or negative.
    case invalidAllocationLength(Int)
    /// The allocator's range is not entirely guest RAM.
    case allocatorRangeNotRAM(base: UInt64, length: UInt64)
    /// A string-I/O byte buffer whose length is not a non-zero multiple of the access size
    /// (or holds more than 2^32 - 1 elements).
    case invalidStringLength(bytes: Int, size: Int)

    public var description: String {
        switch self {
        case .dispatch(let e): "I/O dispatch: \(e)"
        case .guestMemory(let e): "guest memory: \(e)"
        case .ioEvent(let e): "ioeventfd: \(e)"
        case .eventNotifier(let e): "eventfd: \(e)"
        case .allocatorExhausted(let requested, let alignment, let available):
            "guest allocator cannot fit \(requested) bytes aligned to \(alignment) (\(available) bytes left)"
        case .invalidAlignment(let a): "alignment \(a) is not a power of two"
        case .invalidAllocationLength(let n): "allocation length \(n) is not positive"
        case .allocatorRangeNotRAM(let base, let length):
            "allocator range 0x\(String(base, radix: 16))+0x\(String(length, radix: 16)) is not all guest RAM"
        case .invalidStringLength(let bytes, let size):
            "string I/O buffer of \(bytes) bytes is not a non-zero multiple of access size \(size)"
        }
    }
}
