/// A RAM size as `--memory` accepts it: a decimal number with an optional binary suffix
/// `K`, `M`, `G` or `T` (optionally followed by `B` or `iB`); a bare number means MiB, as in QEMU.
public struct MemorySize: Hashable, Sendable, CustomStringConvertible {
    /// The smallest guest swiftdm boots (real-mode firmware plus its data).
    public static let minimum: UInt64 = 2 << 20
    /// The largest: the x86 machine layout's limit.
    public static let maximum: UInt64 = 16 << 40

    public let bytes: UInt64

    public init(bytes: UInt64) { self.bytes = bytes }

    public init(parsing text: String, option: String = "--memory") throws(MachineError) {
        let expected = "expected a size such as 512M or 2G (K, M, G, T suffixes; plain numbers are MiB), a multiple of 4 KiB from 2M to 16T"
        var digits = Substring(text)
        var suffix = ""
        while let last = digits.last, !last.isNumber {
            suffix = String(last) + suffix
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let number = UInt64(digits) else {
            throw .badValue(option: option, value: text, expected: expected)
        }
        let unit: UInt64
        switch suffix.uppercased() {
        case "": unit = 1 << 20
        case "K", "KB", "KIB": unit = 1 << 10
        case "M", "MB", "MIB": unit = 1 << 20
        case "G", "GB", "GIB": unit = 1 << 30
        case "T", "TB", "TIB": unit = 1 << 40
        default: throw .badValue(option: option, value: text, expected: expected)
        }
        let (bytes, overflow) = number.multipliedReportingOverflow(by: unit)
        guard !overflow, bytes >= Self.minimum, bytes <= Self.maximum, bytes % 4096 == 0 else {
            throw .badValue(option: option, value: text, expected: expected)
        }
        self.bytes = bytes
    }

    public var description: String {
        for (unit, name) in [(UInt64(1) << 40, "T"), (1 << 30, "G"), (1 << 20, "M"), (1 << 10, "K")] where bytes % unit == 0 {
            return "\(bytes / unit)\(name)"
        }
        return "\(bytes)"
    }
}
