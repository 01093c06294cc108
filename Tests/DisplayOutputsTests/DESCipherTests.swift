@testable import DisplayOutputs
import Testing

struct DESCipherTests {
    /// Known answers from FIPS 81 / the NBS validation set and the classic worked example.
    @Test(arguments: [
        (0x1334_5779_9BBC_DFF1 as UInt64, 0x0123_4567_89AB_CDEF as UInt64, 0x85E8_1354_0F0A_B405 as UInt64),
        (0x0123_4567_89AB_CDEF, 0x4E6F_7720_6973_2074, 0x3FA4_0E8A_984D_4815),
        (0x0101_0101_0101_0101, 0x95F8_A5E5_DD31_D900, 0x8000_0000_0000_0000),
        (0x1031_6E02_8C8F_3B4A, 0x0000_0000_0000_0000, 0x82DC_BAFB_DEAB_6602),
        (0x0E32_9232_EA6D_0D73, 0x8787_8787_8787_8787, 0x0000_0000_0000_0000),
    ])
    func knownAnswers(key: UInt64, plain: UInt64, cipher: UInt64) {
        let keyBytes = (0..<8).map { UInt8(truncatingIfNeeded: key >> (56 - 8 * UInt64($0))) }
        let des = DESCipher(key: keyBytes)
        #expect(des.encrypt(plain) == cipher)
        #expect(des.decrypt(cipher) == plain)
    }

    @Test func vncKeyReversesEachBytesBits() {
        // 'p' = 0x70 = 0111_0000 -> 0000_1110 = 0x0e; short passwords are zero-padded.
        #expect(VNCAuthentication.key(for: "p") == [0x0e, 0, 0, 0, 0, 0, 0, 0])
        #expect(VNCAuthentication.key(for: "abcdefghXYZ").count == 8)
        #expect(VNCAuthentication.key(for: "abcdefghXYZ") == VNCAuthentication.key(for: "abcdefgh"))
    }

    @Test func vncResponseIsTwoBlocksAndChecked() {
        let auth = VNCAuthentication(password: "secret")
        let challenge = (0..<16).map { UInt8($0 * 17) }
        let response = auth.response(to: challenge)
        #expect(response.count == 16)
        #expect(auth.accepts(response, for: challenge))
        #expect(!VNCAuthentication(password: "Secret").accepts(response, for: challenge))
        #expect(!auth.accepts(Array(response.prefix(15)), for: challenge))
    }
}
