/// Why a guest-physical access was refused.
public enum GuestMemoryError: Error, Equatable, CustomStringConvertible {
    /// `gpa + length` overflows 64 bits, or `length` is negative.
    case overflow(gpa: UInt64, length: Int)
    /// Part of the range is not guest RAM.
    case outOfRange(gpa: UInt64, length: Int)
    /// The range is RAM but spans two host mappings and the caller asked for one contiguous view.
    case notContiguous(gpa: UInt64, length: Int)
    /// An atomic access whose address is not naturally aligned.
    case misaligned(gpa: UInt64, size: Int)
    /// The backend could not map the frame (e.g. a Xen foreign-mapping error), with its errno.
    case mappingFailed(gpa: UInt64, errno: Int32)

    public var description: String {
        switch self {
        case .overflow(let gpa, let length):
            "guest range 0x\(String(gpa, radix: 16))+\(length) overflows"
        case .outOfRange(let gpa, let length):
            "guest range 0x\(String(gpa, radix: 16))+\(length) is not (entirely) RAM"
        case .notContiguous(let gpa, let length):
            "guest range 0x\(String(gpa, radix: 16))+\(length) spans more than one mapping"
        case .misaligned(let gpa, let size):
            "guest address 0x\(String(gpa, radix: 16)) is not aligned to \(size) bytes"
        case .mappingFailed(let gpa, let errno):
            "guest frame at 0x\(String(gpa, radix: 16)) could not be mapped (errno \(errno))"
        }
    }
}
