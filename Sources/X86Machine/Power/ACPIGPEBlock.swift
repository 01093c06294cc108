import DeviceModel
import Synchronization

/// An ACPI general-purpose event register block (ACPI 6.5 §4.8.4.1): the first half of its
/// bytes are status bits (write 1 to clear), the second half the matching enable bits.
///
/// The block has no event sources of its own yet: status bits stay clear, so an OS finds
/// nothing pending. What matters is that the block exists where the FADT says: unclaimed ports
/// read all ones, and Linux then sees every GPE raised with no handler and disables them one
/// by one ("No handler or method for GPE 00"). Xen's hvmloader announces a 4-byte block at
/// 0xAFE0 (`ACPI_GPE0_BLK_ADDRESS_V1`) that its device model provides.
public final class ACPIGPEBlock: IOHandler, Sendable {
    /// hvmloader's GPE0 block address and length (`xen/include/public/hvm/ioreq.h`).
    public static let xenBase: UInt64 = 0xAFE0
    public static let xenLength: UInt64 = 4

    /// Bytes of status registers (and of enable registers).
    public let halfLength: Int
    private let registers: Mutex<[UInt8]>

    /// A block of `length` bytes (even, 2…256).
    public init(length: Int) {
        halfLength = max(1, min(length, 256) / 2)
        registers = Mutex([UInt8](repeating: 0, count: halfLength * 2))
    }

    /// Bytes of status and of enable bits, for a test or a future event source.
    public var status: [UInt8] { registers.withLock { Array($0[..<halfLength]) } }
    public var enable: [UInt8] { registers.withLock { Array($0[halfLength...]) } }

    public func read(at offset: UInt64, size: Int) -> UInt64 {
        registers.withLock { r in
            var value: UInt64 = 0
            for i in 0..<size {
                let at = Int(offset) + i
                let byte: UInt64 = at < r.count ? UInt64(r[at]) : 0xFF
                value |= byte << (8 * UInt64(i))
            }
            return value
        }
    }

    public func write(at offset: UInt64, size: Int, value: UInt64) {
        registers.withLock { r in
            for i in 0..<size {
                let at = Int(offset) + i
                guard at < r.count else { continue }
                let byte = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))
                if at < halfLength { r[at] &= ~byte } else { r[at] = byte }
            }
        }
    }
}

// MARK: System reset

extension ACPIGPEBlock: SystemResettable {
    /// Every status and enable bit to 0.
    public func systemReset() {
        registers.withLock { r in
            for i in r.indices { r[i] = 0 }
        }
    }
}

// MARK: Device state

extension ACPIGPEBlock: DeviceStateful {
    static let stateKind = "acpi-gpe"

    public func saveState(id: String) -> DeviceStateRecord {
        var r = DeviceStateRecord(id: id, kind: Self.stateKind, version: 1)
        r.set("registers", bytes: registers.withLock { $0 })
        return r
    }

    public func restoreState(_ r: DeviceStateRecord) throws(DeviceStateError) {
        try r.expect(kind: Self.stateKind, versions: 1...1)
        let bytes = try r.bytes("registers", count: halfLength * 2)
        registers.withLock { $0 = bytes }
    }
}
