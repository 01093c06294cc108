/// VNC Authentication (RFC 6143 §7.2.2): the server sends 16 random bytes, the client returns
/// them DES-encrypted with the password as key. The key is the password's first 8 bytes
/// (zero-padded) with the bits of each byte reversed: the original VNC code fed DES its key
/// least significant bit first, and every client since does the same.
struct VNCAuthentication {
    static let challengeLength = 16

    private let cipher: DESCipher

    init(password: String) {
        cipher = DESCipher(key: Self.key(for: password))
    }

    /// The DES key for `password`.
    static func key(for password: String) -> [UInt8] {
        var key = Array(password.utf8.prefix(8))
        key += [UInt8](repeating: 0, count: 8 - key.count)
        return key.map { b in
            var r: UInt8 = 0
            for bit in 0..<8 where b & (1 << bit) != 0 { r |= 0x80 >> bit }
            return r
        }
    }

    /// What a client knowing the password answers to `challenge`.
    func response(to challenge: [UInt8]) -> [UInt8] { cipher.encrypt(bytes: challenge) }

    /// True when `response` is the right answer to `challenge`, compared without an early
    /// exit so the time taken says nothing about where the first wrong byte was.
    func accepts(_ response: [UInt8], for challenge: [UInt8]) -> Bool {
        let expected = self.response(to: challenge)
        guard response.count == expected.count else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(response, expected) { difference |= a ^ b }
        return difference == 0
    }
}
