import HostIO
import Logging
import VirtioDevices

/// A virtio-net device on a tap interface: `tap=NAME[,mac=MAC][,queues=N][,transport=…]`
/// (`--net`), or `virtio-net,tap=NAME,…` through `--device`. The tap is attached if it
/// exists, else created (which needs CAP_NET_ADMIN) and brought up. `queues=N` (QEMU's
/// `-netdev tap,queues=N`) opens N queues of a multi-queue tap and offers N queue pairs
/// (`VIRTIO_NET_F_MQ`), each on its own I/O thread.
public struct NetDeviceSpec: Hashable, Sendable, CustomStringConvertible {
    /// Linux interface names are at most IFNAMSIZ - 1 = 15 bytes.
    public static let maximumInterfaceNameLength = 15
    static let syntax = "tap=NAME[,mac=MAC][,queues=N][,transport=pci|pci-transitional|mmio]"

    public var tap: String
    /// `nil`: a locally administered address derived from the device's position.
    public var mac: MACAddress?
    public var transport: VirtioTransportKind?
    /// `queues=`: queue pairs, one tap queue each (1: a single-queue tap, no MQ).
    public var queuePairs: Int

    public init(tap: String, mac: MACAddress? = nil, transport: VirtioTransportKind? = nil, queuePairs: Int = 1) {
        self.tap = tap
        self.mac = mac
        self.transport = transport
        self.queuePairs = queuePairs
    }

    init(options: [DeviceOptionList.Field], text: String, option: String) throws(DeviceSpecError) {
        var tap: String?
        queuePairs = 1
        for field in options {
            switch (field.key, field.value) {
            case ("tap", let value?), ("ifname", let value?):
                guard !value.isEmpty, value.utf8.count <= Self.maximumInterfaceNameLength, !value.contains("/"),
                      value.allSatisfy({ $0.isASCII && !$0.isWhitespace })
                else {
                    throw DeviceSpecError(option: "\(option) tap", value: value, expected: "expected an interface name of 1 to 15 characters")
                }
                tap = value
            case ("mac", let value?):
                mac = try Self.parseMAC(value, option: "\(option) mac")
            case ("transport", let value?):
                transport = try VirtioTransportKind(parsing: value, option: "\(option) transport")
            case ("queues", let value?):
                guard let n = Int(value), (1...VirtioNetConfiguration.maximumQueuePairs).contains(n) else {
                    throw DeviceSpecError(option: "\(option) queues", value: value,
                                          expected: "expected a queue-pair count from 1 to \(VirtioNetConfiguration.maximumQueuePairs)")
                }
                queuePairs = n
            default:
                throw DeviceSpecError(option: option, value: text, expected: "expected \(Self.syntax)")
            }
        }
        guard let tap else { throw DeviceSpecError(option: option, value: text, expected: "expected \(Self.syntax)") }
        self.tap = tap
    }

    /// `aa:bb:cc:dd:ee:ff` (or with `-`); a NIC's own address must be unicast.
    static func parseMAC(_ text: String, option: String) throws(DeviceSpecError) -> MACAddress {
        guard text.utf8.count == 17, let mac = MACAddress(text.replacingDashes()) else {
            throw DeviceSpecError(option: option, value: text, expected: "expected six hex octets such as 52:54:00:12:34:56")
        }
        guard !mac.isMulticast else {
            throw DeviceSpecError(
                option: option, value: text, expected: "a multicast address cannot be a NIC's address (clear bit 0 of the first octet)")
        }
        return mac
    }

    public var description: String {
        "virtio-net on tap \(tap)\(mac.map { " mac \($0)" } ?? "")\(queuePairs == 1 ? "" : " queues=\(queuePairs)")"
    }

    func makeDevice(_ context: DeviceBuildContext) throws -> VirtioNetDevice {
        // An existing tap, or one created (and brought up) when absent and permitted; TapDevice's
        // errors say which failed and why.
        let queues = queuePairs == 1 ? [try TapDevice(name: tap)] : try TapDevice.openQueues(name: tap, count: queuePairs)
        let tap = queues[0]
        var logger = context.logger
        logger[metadataKey: "tap"] = "\(tap.name)"
        logger.info("tap \(tap.name): \(tap.created ? "created" : "attached")\(queues.count > 1 ? " with \(queues.count) queues" : ""), offloads it handles 0x\(String(tap.supportedOffloads.rawValue, radix: 16))")
        let mac = mac ?? .locallyAdministered(seed: 0x12_3456 &+ UInt32(truncatingIfNeeded: context.index))
        return try VirtioNetDevice(configuration: VirtioNetConfiguration(mac: mac, queuePairs: queues.count), backends: queues,
                                   logger: logger)
    }
}

extension String {
    fileprivate func replacingDashes() -> String { String(map { $0 == "-" ? ":" : $0 }) }
}
