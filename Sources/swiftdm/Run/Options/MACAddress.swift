/// An Ethernet address in the usual `aa:bb:cc:dd:ee:ff` form (`-` separators accepted). A NIC's
/// own address must be unicast, so the group bit (bit 0 of the first octet) must be clear.
struct MACAddress: Hashable, CustomStringConvertible {
    let octets: [UInt8]

    init(octets: [UInt8]) { self.octets = octets }

    init(parsing text: String, option: String = "--net mac") throws(RunError) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).count == 6
            ? text.split(separator: ":", omittingEmptySubsequences: false)
            : text.split(separator: "-", omittingEmptySubsequences: false)
        var octets: [UInt8] = []
        for p in parts {
            guard p.count == 2, let b = UInt8(p, radix: 16) else { break }
            octets.append(b)
        }
        guard parts.count == 6, octets.count == 6 else {
            throw .badValue(option: option, value: text, expected: "expected six hex octets such as 52:54:00:12:34:56")
        }
        guard octets[0] & 1 == 0 else {
            throw .badValue(option: option, value: text, expected: "a multicast address cannot be a NIC's address (clear bit 0 of the first octet)")
        }
        self.octets = octets
    }

    var description: String { octets.map { String($0, radix: 16).leftPadded(to: 2) }.joined(separator: ":") }
}

extension String {
    fileprivate func leftPadded(to n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}
