import Logging
import VirtioDevices

/// Builds the virtio device a ``VhostUserDeviceSpec`` names — the same devices the KVM and
/// Xen backends serve, unchanged.
enum VhostUserDeviceFactory {
    static func makeDevice(_ spec: VhostUserDeviceSpec) throws -> any VirtioDevice {
        switch spec {
        case .block(let path, let readOnly, let serial):
            return try VirtioBlockDevice(configuration: VirtioBlockConfiguration(path: path, readOnly: readOnly, serial: serial))
        case .entropy:
            return try VirtioEntropyDevice()
        case .console(.stdio):
            return try VirtioConsoleDevice(configuration: VirtioConsoleConfiguration(backend: StdioConsoleBackend()))
        case .console(.socket(let path)):
            return try VirtioConsoleDevice(configuration: VirtioConsoleConfiguration(backend: try UnixSocketConsoleBackend(path: path)))
        }
    }
}
