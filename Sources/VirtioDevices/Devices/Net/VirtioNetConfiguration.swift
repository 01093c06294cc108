/// A MAC address.
public struct MACAddress: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// Parses `aa:bb:cc:dd:ee:ff`; `nil` when malformed.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6 else { return nil }
        var bytes: [UInt8] = []
        for p in parts {
            guard p.count == 2, let b = UInt8(p, radix: 16) else { return nil }
            bytes.append(b)
        }
        self.bytes = bytes
    }

    /// Wraps six bytes; `nil` for any other count.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 6 else { return nil }
        self.bytes = bytes
    }

    /// A locally administered unicast address (52:54:00:xx:xx:xx, as QEMU uses) derived from `seed`.
    public static func locallyAdministered(seed: UInt32) -> MACAddress {
        MACAddress(bytes: [0x52, 0x54, 0x00, UInt8(truncatingIfNeeded: seed >> 16),
                           UInt8(truncatingIfNeeded: seed >> 8), UInt8(truncatingIfNeeded: seed)])!
    }

    public var isMulticast: Bool { bytes[0] & 1 != 0 }
    public var isBroadcast: Bool { bytes.allSatisfy { $0 == 0xFF } }

    public var description: String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":")
    }
}

/// How a virtio-net device is set up (Virtualization.framework style: a small value type).
public struct VirtioNetConfiguration: Sendable {
    public var mac: MACAddress
    /// Advertised MTU (`VIRTIO_NET_F_MTU`), 68…65535.
    public var mtu: UInt16
    /// Size of each of the rx/tx queues.
    public var queueSize: UInt16

    public init(mac: MACAddress = .locallyAdministered(seed: 0x12_34_56), mtu: UInt16 = 1500, queueSize: UInt16 = 256) {
        self.mac = mac
        self.mtu = mtu
        self.queueSize = queueSize
    }
}
