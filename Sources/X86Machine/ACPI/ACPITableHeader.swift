/// The identification every swiftdm firmware table carries.
enum FirmwareIdentity {
    /// ACPI OEMID (6 characters) and MP OEM ID.
    static let oemID = "SWFTDM"
    /// ACPI OEM Table ID (8 characters) and MP product ID prefix.
    static let oemTableID = "SWIFTDM "
    static let oemRevision: UInt32 = 1
    /// ACPI Creator ID (4 characters).
    static let creatorID = "SWDM"
    static let creatorRevision: UInt32 = 1
}

/// Builds a System Description Table: the 36-byte header (ACPI 6.5 §5.2.6) followed by `body`,
/// with `Length` and `Checksum` filled in.
enum SystemDescriptionTable {
    static let headerSize = 36
    static let checksumOffset = 9

    static func make(signature: String, revision: UInt8, body: [UInt8]) -> [UInt8] {
        precondition(signature.utf8.count == 4)
        var w = LittleEndianWriter()
        w.ascii(signature, length: 4)
        w.u32(UInt32(headerSize + body.count))
        w.u8(revision)
        w.u8(0)  // checksum, below
        w.ascii(FirmwareIdentity.oemID, length: 6)
        w.ascii(FirmwareIdentity.oemTableID, length: 8)
        w.u32(FirmwareIdentity.oemRevision)
        w.ascii(FirmwareIdentity.creatorID, length: 4)
        w.u32(FirmwareIdentity.creatorRevision)
        w.append(body)
        w.set(checksumByte(w.bytes), at: checksumOffset)
        return w.bytes
    }
}

/// A Generic Address Structure (ACPI 6.5 §5.2.3.2).
struct GenericAddress {
    enum Space: UInt8 {
        case systemMemory = 0
        case systemIO = 1
    }

    /// Access size encoding: 1 byte, 2 word, 3 dword, 4 qword.
    enum AccessSize: UInt8 {
        case undefined = 0
        case byte = 1
        case word = 2
        case dword = 3
        case qword = 4
    }

    var space: Space
    var bitWidth: UInt8
    var bitOffset: UInt8 = 0
    var accessSize: AccessSize
    var address: UInt64

    static let zero = GenericAddress(space: .systemMemory, bitWidth: 0, accessSize: .undefined, address: 0)

    static func io(_ port: UInt16, bytes: UInt8, access: AccessSize) -> GenericAddress {
        GenericAddress(space: .systemIO, bitWidth: bytes * 8, accessSize: access, address: UInt64(port))
    }

    func write(to w: inout LittleEndianWriter) {
        w.u8(space.rawValue)
        w.u8(bitWidth)
        w.u8(bitOffset)
        w.u8(accessSize.rawValue)
        w.u64(address)
    }
}
