import Logging
import VirtioDevices

/// Builds the virtio device a ``VhostUserDeviceSpec`` names — the same devices the KVM and
/// Xen backends serve, unchanged.
enum VhostUserDeviceFactory {
    /// `logger` goes to devices that log (virtio-net reports the features it negotiated).
    static func makeDevice(_ spec: VhostUserDeviceSpec, logger: Logger = Logger(label: "swiftdm.device")) throws -> any VirtioDevice {
        switch spec {
        case .block(let path, let readOnly, let serial):
            return try VirtioBlockDevice(configuration: VirtioBlockConfiguration(path: path, readOnly: readOnly, serial: serial))
        case .entropy:
            return try VirtioEntropyDevice()
        case .console(.stdio):
            return try VirtioConsoleDevice(configuration: VirtioConsoleConfiguration(backend: StdioConsoleBackend()))
        case .console(.socket(let path)):
            return try VirtioConsoleDevice(configuration: VirtioConsoleConfiguration(backend: try UnixSocketConsoleBackend(path: path)))
        case .net(let net):
            // An existing tap, or one created (and brought up) when absent and permitted;
            // TapDevice's errors say which failed and why.
            let tap = try TapDevice(name: net.tap)
            let mac = net.mac.flatMap { VirtioDevices.MACAddress(bytes: $0.octets) } ?? .locallyAdministered(seed: 0x12_3456)
            var netLogger = logger
            netLogger[metadataKey: "tap"] = "\(tap.name)"
            logger.info("tap \(tap.name): \(tap.created ? "created" : "attached"), offloads it handles 0x\(String(tap.supportedOffloads.rawValue, radix: 16))")
            return try VirtioNetDevice(configuration: VirtioNetConfiguration(mac: mac), backend: tap, logger: netLogger)
        }
    }
}
