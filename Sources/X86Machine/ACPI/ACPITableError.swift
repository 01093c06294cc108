/// Why the ACPI tables could not be placed.
public enum ACPITableError: Error, Equatable, CustomStringConvertible {
    case tablesTooLarge(size: Int, limit: Int)
    case misalignedBase(UInt64)

    public var description: String {
        switch self {
        case .tablesTooLarge(let size, let limit):
            "ACPI tables need \(size) bytes but only \(limit) are available"
        case .misalignedBase(let base):
            "ACPI table base 0x\(String(base, radix: 16)) is not 64-byte aligned"
        }
    }
}
