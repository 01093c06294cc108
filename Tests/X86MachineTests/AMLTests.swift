import Testing

@testable import X86Machine

@Suite struct AMLTests {
    @Test func pkgLengthEncodings() {
        #expect(AML.pkgLength(payload: 0) == [0x01])
        #expect(AML.pkgLength(payload: 62) == [0x3F])
        // 63 payload bytes + 2 length bytes = 65 = 0x41: lead 0x41 with one follow byte 0x04.
        #expect(AML.pkgLength(payload: 63) == [0x41, 0x04])
        #expect(AML.pkgLength(payload: 0xFFD) == [0x4F, 0xFF])
        #expect(AML.pkgLength(payload: 0xFFE) == [0x81, 0x00, 0x01])
        #expect(AML.pkgLength(payload: 0xFFFFC) == [0x8F, 0xFF, 0xFF])
        #expect(AML.pkgLength(payload: 0xFFFFD) == [0xC1, 0x00, 0x00, 0x01])
        // Decoding gives back payload + encoding size.
        for payload in [0, 1, 62, 63, 64, 100, 4093, 4094, 4095, 70_000, 1_048_572, 1_048_573, 5_000_000] {
            let enc = AML.pkgLength(payload: payload)
            var total = Int(enc[0] & (enc.count == 1 ? 0x3F : 0x0F))
            for i in 1..<enc.count { total |= Int(enc[i]) << (4 + 8 * (i - 1)) }
            #expect(total == payload + enc.count, "payload \(payload)")
            #expect(Int(enc[0] >> 6) == enc.count - 1)
        }
    }

    @Test func integersUseTheShortestEncoding() {
        #expect(AML.integer(0) == [0x00])
        #expect(AML.integer(1) == [0x01])
        #expect(AML.integer(2) == [0x0A, 0x02])
        #expect(AML.integer(0x100) == [0x0B, 0x00, 0x01])
        #expect(AML.integer(0x1_0000) == [0x0C, 0x00, 0x00, 0x01, 0x00])
        #expect(AML.integer(0x1_0000_0000) == [0x0E, 0, 0, 0, 0, 1, 0, 0, 0])
        #expect(AML.integer(UInt64.max) == [0xFF])
    }

    @Test func namesAndIDs() {
        #expect(AML.eisaID("PNP0A03") == [0x0C, 0x41, 0xD0, 0x0A, 0x03])
        #expect(AML.eisaID("PNP0501") == [0x0C, 0x41, 0xD0, 0x05, 0x01])
        #expect(AML.nameString("_SB") == Array("_SB_".utf8))
        #expect(AML.nameString("\\_SB") == [0x5C] + Array("_SB_".utf8))
        #expect(AML.nameString("\\_SB.PCI0") == [0x5C, 0x2E] + Array("_SB_PCI0".utf8))
        #expect(AML.nameString("_SB.PCI0.S08") == [0x2F, 3] + Array("_SB_PCI0S08_".utf8))
        #expect(AML.nameString("^^FOO") == [0x5E, 0x5E] + Array("FOO_".utf8))
        #expect(AML.string("LNRO0005") == [0x0D] + Array("LNRO0005".utf8) + [0])
        #expect(String(format4Hex: "VR", 10) == "VR0A")
        #expect(String(format4Hex: "C", 253) == "C0FD")
    }

    @Test func structuredTerms() {
        // Device (DEV0) { Name (_UID, One) }
        #expect(AML.device("DEV0", [AML.name("_UID", AML.integer(1))]) == [0x5B, 0x82, 0x0B] + Array("DEV0".utf8) + [0x08] + Array("_UID".utf8) + [0x01])
        #expect(AML.package([AML.integer(0), AML.integer(1)]) == [0x12, 0x04, 0x02, 0x00, 0x01])
        #expect(AML.buffer([0xAA]) == [0x11, 0x03, 0x01, 0xAA])
        #expect(AML.buffer([0xAA, 0xBB]) == [0x11, 0x05, 0x0A, 0x02, 0xAA, 0xBB])
        #expect(AML.method("_STA", arguments: 0, serialized: false, [AML.returnValue(AML.integer(0x0F))])
            == [0x14, 0x09] + Array("_STA".utf8) + [0x00, 0xA4, 0x0A, 0x0F])
        // A package of 300 elements becomes a VarPackage.
        let big = AML.package(Array(repeating: AML.integer(0), count: 300))
        #expect(big[0] == 0x13)
    }

    @Test func resourceDescriptors() {
        var rt = ResourceTemplate()
        rt.io(minimum: 0x3F8, maximum: 0x3F8, alignment: 0, length: 8)
        rt.irqNoFlags([4])
        rt.memory32Fixed(base: 0xD000_0000, length: 0x1000)
        rt.interrupt([5], levelTriggered: true, activeLow: false)
        #expect(rt.bytes == [
            0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x00, 0x08,
            0x22, 0x10, 0x00,
            0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xD0, 0x00, 0x10, 0x00, 0x00,
            0x89, 0x06, 0x00, 0x01, 0x01, 0x05, 0x00, 0x00, 0x00,
        ])
        var w = ResourceTemplate()
        w.wordIO(minimum: 0x0D00, maximum: 0xFFFF)
        #expect(w.bytes.count == 16)
        #expect(Array(w.bytes[14..<16]) == [0x00, 0xF3], "length 0xF300")
        var q = ResourceTemplate()
        q.qwordMemory(minimum: 0x1_0000_0000, maximum: 0x1_FFFF_FFFF, cacheability: .prefetchable)
        #expect(q.bytes.count == 46)
        #expect(q.bytes[5] == 0x07, "read-write, prefetchable")
    }
}
