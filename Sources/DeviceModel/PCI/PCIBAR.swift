/// What a base address register decodes (PCI Local Bus 3.0 §6.2.5.1).
public enum PCIBARKind: Sendable, Hashable, CustomStringConvertible {
    /// A 32-bit memory BAR (type 00b), anywhere below 4 GiB.
    case memory32(prefetchable: Bool)
    /// A 64-bit memory BAR (type 10b), occupying this and the next BAR register.
    case memory64(prefetchable: Bool)
    /// An I/O BAR (bit 0 set).
    case io

    /// True for the two memory kinds.
    public var isMemory: Bool { self != .io }

    /// True for ``memory64(prefetchable:)``.
    public var is64Bit: Bool {
        if case .memory64 = self { return true }
        return false
    }

    /// The read-only low bits of the BAR register that describe the kind.
    var typeBits: UInt32 {
        switch self {
        case .io: 0x1
        case .memory32(let p): p ? 0x8 : 0x0
        case .memory64(let p): (p ? 0x8 : 0x0) | 0x4
        }
    }

    /// The address space the BAR decodes into.
    public var space: IOSpace { self == .io ? .port : .memory }

    public var description: String {
        switch self {
        case .memory32(let p): p ? "32-bit prefetchable memory" : "32-bit memory"
        case .memory64(let p): p ? "64-bit prefetchable memory" : "64-bit memory"
        case .io: "I/O"
        }
    }
}

/// A base address register definition: its kind and the size of the region it claims.
///
/// Sizes are powers of two; the register's low address bits below the size are read-only
/// zero, so the guest's sizing protocol (write all ones, read back `~(size - 1) | type`)
/// works (§6.2.5.1). Limits: memory BARs 16 bytes to 2 GiB (32-bit) or 2^63 (64-bit);
/// I/O BARs 4 to 256 bytes ("must not consume more than 256 bytes per I/O BAR", §6.2.5.1).
public struct PCIBAR: Sendable, Hashable {
    /// Memory (32/64-bit, prefetchable or not) or I/O.
    public let kind: PCIBARKind
    /// The region size in bytes: a power of two.
    public let size: UInt64

    /// A BAR of `kind` claiming `size` bytes; throws ``PCIError/invalidBARSize(kind:size:)`` outside the limits above.
    public init(kind: PCIBARKind, size: UInt64) throws(PCIError) {
        let limits: ClosedRange<UInt64> =
            switch kind {
            case .io: 4...256
            case .memory32: 16...(1 << 31)
            case .memory64: 16...(1 << 63)
            }
        guard size.nonzeroBitCount == 1, limits.contains(size) else {
            throw .invalidBARSize(kind: kind, size: size)
        }
        self.kind = kind
        self.size = size
    }

    /// A 32-bit memory BAR of `size` bytes.
    public static func memory32(size: UInt64, prefetchable: Bool = false) throws(PCIError) -> PCIBAR {
        try PCIBAR(kind: .memory32(prefetchable: prefetchable), size: size)
    }

    /// A 64-bit memory BAR of `size` bytes (uses two BAR registers).
    public static func memory64(size: UInt64, prefetchable: Bool = false) throws(PCIError) -> PCIBAR {
        try PCIBAR(kind: .memory64(prefetchable: prefetchable), size: size)
    }

    /// An I/O BAR of `size` bytes.
    public static func io(size: UInt64) throws(PCIError) -> PCIBAR {
        try PCIBAR(kind: .io, size: size)
    }

    /// Writable bits of the low BAR register: the address bits at or above the size.
    var lowWritableMask: UInt32 {
        let typeMask: UInt32 = kind == .io ? 0x3 : 0xF
        return UInt32(truncatingIfNeeded: ~(size - 1)) & ~typeMask
    }

    /// Writable bits of the upper register of a 64-bit BAR.
    var highWritableMask: UInt32 { UInt32(truncatingIfNeeded: ~(size - 1) >> 32) }
}

/// Where a BAR currently decodes: set by the guest's BAR programming and command register.
public struct PCIBARMapping: Sendable, Hashable, CustomStringConvertible {
    /// The BAR index (the lower index for a 64-bit BAR).
    public let bar: Int
    /// `.port` for I/O BARs, `.memory` for memory BARs.
    public let space: IOSpace
    /// The decoded range: the programmed address and the BAR size.
    public let range: AddressRange

    /// A mapping of BAR `bar` at `range` in `space`.
    public init(bar: Int, space: IOSpace, range: AddressRange) {
        self.bar = bar
        self.space = space
        self.range = range
    }

    public var description: String { "BAR\(bar) \(space) \(range)" }
}
