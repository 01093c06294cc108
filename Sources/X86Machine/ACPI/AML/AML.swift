/// Encoders for the ACPI Machine Language terms the DSDT uses (ACPI 6.5 §20.2, "AML Grammar
/// Definition"). Each returns the encoded bytes of one term; terms nest by concatenation.
///
/// Names and structure come from swiftdm's own code, never from the guest: an invalid name is
/// a programming error and traps.
enum AML {
    // Opcodes (ACPI 6.5 §20.2.5).
    static let zeroOp: UInt8 = 0x00
    static let oneOp: UInt8 = 0x01
    static let onesOp: UInt8 = 0xFF
    static let nameOp: UInt8 = 0x08
    static let bytePrefix: UInt8 = 0x0A
    static let wordPrefix: UInt8 = 0x0B
    static let dwordPrefix: UInt8 = 0x0C
    static let stringPrefix: UInt8 = 0x0D
    static let qwordPrefix: UInt8 = 0x0E
    static let scopeOp: UInt8 = 0x10
    static let bufferOp: UInt8 = 0x11
    static let packageOp: UInt8 = 0x12
    static let varPackageOp: UInt8 = 0x13
    static let methodOp: UInt8 = 0x14
    static let returnOp: UInt8 = 0xA4
    static let extOpPrefix: UInt8 = 0x5B
    static let deviceOp: UInt8 = 0x82  // after extOpPrefix
    static let rootChar: UInt8 = 0x5C  // '\'
    static let parentPrefixChar: UInt8 = 0x5E  // '^'
    static let dualNamePrefix: UInt8 = 0x2E
    static let multiNamePrefix: UInt8 = 0x2F

    /// PkgLength (§20.2.4): the length of the package *including* the PkgLength bytes, in 1–4
    /// bytes. One byte holds up to 63; longer lengths put the byte count in bits 7:6 of the
    /// lead byte, the low nibble in bits 3:0, and the rest in the following bytes.
    static func pkgLength(payload: Int) -> [UInt8] {
        precondition(payload >= 0 && payload < 0x0FFF_FFFF - 4, "AML package too large: \(payload)")
        if payload + 1 <= 0x3F { return [UInt8(payload + 1)] }
        for extra in 1...3 {
            let total = payload + 1 + extra
            if total < 1 << (4 + 8 * extra) {
                var bytes = [UInt8(extra << 6) | UInt8(total & 0x0F)]
                for i in 0..<extra { bytes.append(UInt8(truncatingIfNeeded: total >> (4 + 8 * i))) }
                return bytes
            }
        }
        preconditionFailure("unreachable: payload checked above")
    }

    /// A NameString (§20.2.2): `\` and `^` prefixes, then dot-separated NameSegs of 1–4
    /// characters (`[A-Z_][A-Z0-9_]*`, padded with `_`).
    static func nameString(_ path: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var rest = Substring(path)
        if rest.first == "\\" {
            bytes.append(rootChar)
            rest = rest.dropFirst()
        }
        while rest.first == "^" {
            bytes.append(parentPrefixChar)
            rest = rest.dropFirst()
        }
        let segments = rest.isEmpty ? [] : rest.split(separator: ".", omittingEmptySubsequences: false).map(nameSeg)
        switch segments.count {
        case 0: bytes.append(0x00)  // NullName
        case 1: bytes += segments[0]
        case 2: bytes += [dualNamePrefix] + segments[0] + segments[1]
        default:
            precondition(segments.count <= 255, "AML name path too long: \(path)")
            bytes += [multiNamePrefix, UInt8(segments.count)] + segments.flatMap { $0 }
        }
        return bytes
    }

    static func nameSeg(_ s: Substring) -> [UInt8] {
        let chars = Array(s.utf8)
        precondition((1...4).contains(chars.count), "AML NameSeg must have 1-4 characters: \(s)")
        for (i, c) in chars.enumerated() {
            let lead = (c >= 0x41 && c <= 0x5A) || c == 0x5F
            precondition(lead || (i > 0 && c >= 0x30 && c <= 0x39), "invalid AML NameSeg: \(s)")
        }
        return chars + [UInt8](repeating: 0x5F, count: 4 - chars.count)
    }

    /// The shortest integer encoding of `v` (§20.2.3 ComputationalData, ConstObj).
    static func integer(_ v: UInt64) -> [UInt8] {
        switch v {
        case 0: return [zeroOp]
        case 1: return [oneOp]
        case UInt64.max: return [onesOp]
        case ...0xFF: return [bytePrefix, UInt8(v)]
        case ...0xFFFF: return [wordPrefix] + littleEndian(v, 2)
        case ...0xFFFF_FFFF: return [dwordPrefix] + littleEndian(v, 4)
        default: return [qwordPrefix] + littleEndian(v, 8)
        }
    }

    /// A DWordConst regardless of value (for fields that must stay 32-bit, like EISA IDs).
    static func dword(_ v: UInt32) -> [UInt8] { [dwordPrefix] + littleEndian(UInt64(v), 4) }

    /// A String (§20.2.3): ASCII, NUL-terminated.
    static func string(_ s: String) -> [UInt8] {
        let chars = Array(s.utf8)
        precondition(chars.allSatisfy { $0 >= 0x01 && $0 <= 0x7F }, "AML strings are ASCII without NUL: \(s)")
        return [stringPrefix] + chars + [0]
    }

    /// A compressed EISA ID such as `PNP0A08` (the ASL `EisaId()` macro): three letters of five
    /// bits each and four hex digits, as a DWord whose bytes read in that order.
    static func eisaID(_ id: String) -> [UInt8] {
        let c = Array(id.utf8)
        precondition(c.count == 7 && c[0..<3].allSatisfy { $0 >= 0x41 && $0 <= 0x5A }, "invalid EISA ID: \(id)")
        func hex(_ x: UInt8) -> UInt32 {
            switch x {
            case 0x30...0x39: return UInt32(x - 0x30)
            case 0x41...0x46: return UInt32(x - 0x41 + 10)
            default: preconditionFailure("invalid EISA ID hex digit in \(id)")
            }
        }
        let l = c[0..<3].map { UInt32($0 - 0x40) }
        let byte0 = l[0] << 2 | l[1] >> 3
        let byte1 = (l[1] & 0x7) << 5 | l[2]
        let byte2 = hex(c[3]) << 4 | hex(c[4])
        let byte3 = hex(c[5]) << 4 | hex(c[6])
        return dword(byte0 | byte1 << 8 | byte2 << 16 | byte3 << 24)
    }

    /// `Name (name, value)`.
    static func name(_ name: String, _ value: [UInt8]) -> [UInt8] {
        [nameOp] + nameString(name) + value
    }

    /// `Scope (path) { terms }`.
    static func scope(_ path: String, _ terms: [[UInt8]]) -> [UInt8] {
        let body = nameString(path) + terms.flatMap { $0 }
        return [scopeOp] + pkgLength(payload: body.count) + body
    }

    /// `Device (name) { terms }`.
    static func device(_ name: String, _ terms: [[UInt8]]) -> [UInt8] {
        let body = nameString(name) + terms.flatMap { $0 }
        return [extOpPrefix, deviceOp] + pkgLength(payload: body.count) + body
    }

    /// `Method (name, argumentCount, Serialized/NotSerialized) { terms }`.
    static func method(_ name: String, arguments: Int, serialized: Bool, _ terms: [[UInt8]]) -> [UInt8] {
        precondition((0...7).contains(arguments), "AML methods take 0-7 arguments")
        let flags = UInt8(arguments) | (serialized ? 0x08 : 0)
        let body = nameString(name) + [flags] + terms.flatMap { $0 }
        return [methodOp] + pkgLength(payload: body.count) + body
    }

    /// `Return (value)`.
    static func returnValue(_ value: [UInt8]) -> [UInt8] { [returnOp] + value }

    /// `Package () { elements }` (VarPackage beyond 255 elements).
    static func package(_ elements: [[UInt8]]) -> [UInt8] {
        if elements.count <= 255 {
            let body = [UInt8(elements.count)] + elements.flatMap { $0 }
            return [packageOp] + pkgLength(payload: body.count) + body
        }
        let body = integer(UInt64(elements.count)) + elements.flatMap { $0 }
        return [varPackageOp] + pkgLength(payload: body.count) + body
    }

    /// `Buffer () { bytes }`.
    static func buffer(_ bytes: [UInt8]) -> [UInt8] {
        let body = integer(UInt64(bytes.count)) + bytes
        return [bufferOp] + pkgLength(payload: body.count) + body
    }

    /// `ResourceTemplate () { … }`: a buffer of resource descriptors closed by an end tag.
    static func resourceTemplate(_ template: ResourceTemplate) -> [UInt8] {
        buffer(template.bytes + [0x79, 0x00])
    }

    static func littleEndian(_ v: UInt64, _ width: Int) -> [UInt8] {
        (0..<width).map { UInt8(truncatingIfNeeded: v >> UInt64(8 * $0)) }
    }
}
