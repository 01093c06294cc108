import HostIO
import VirtioDevices

/// A virtio-console device and where its host end is: `stdio` (this process's standard input
/// and output, the default) or `socket=PATH` (a UNIX socket it listens on; one client at a
/// time is the console). `--console`, or `virtio-console,…` through `--device`.
public struct ConsoleDeviceSpec: Hashable, Sendable, CustomStringConvertible {
    static let syntax = "stdio|socket=PATH[,transport=pci|pci-transitional|mmio]"

    /// The host end of the console.
    public enum Endpoint: Hashable, Sendable {
        case stdio
        case socket(path: String)
    }

    public var endpoint: Endpoint
    public var transport: VirtioTransportKind?

    public init(endpoint: Endpoint = .stdio, transport: VirtioTransportKind? = nil) {
        self.endpoint = endpoint
        self.transport = transport
    }

    init(options: [DeviceOptionList.Field], text: String, option: String) throws(DeviceSpecError) {
        endpoint = .stdio
        for field in options {
            switch (field.key, field.value) {
            case ("stdio", nil):
                endpoint = .stdio
            case ("socket", let path?) where !path.isEmpty:
                endpoint = .socket(path: path)
            case ("transport", let value?):
                transport = try VirtioTransportKind(parsing: value, option: "\(option) transport")
            default:
                throw DeviceSpecError(option: option, value: text, expected: "expected \(Self.syntax)")
            }
        }
    }

    public var description: String {
        switch endpoint {
        case .stdio: "virtio-console on stdio"
        case .socket(let path): "virtio-console (host end: socket \(path))"
        }
    }

    func makeDevice(_ context: DeviceBuildContext) throws -> VirtioConsoleDevice {
        let backend: any ConsoleBackend
        switch endpoint {
        case .stdio: backend = StdioConsoleBackend(rawMode: context.stdinIsTerminal)
        case .socket(let path): backend = try UnixSocketConsoleBackend(path: path)
        }
        return try VirtioConsoleDevice(configuration: VirtioConsoleConfiguration(backend: backend))
    }
}
