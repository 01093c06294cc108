import VirtioDevices

/// A virtio-rng device fed from the host's `getrandom(2)`: `--rng`, or
/// `virtio-rng[,transport=…]` through `--device`.
public struct EntropyDeviceSpec: Hashable, Sendable, CustomStringConvertible {
    static let syntax = "[transport=pci|pci-transitional|mmio]"

    public var transport: VirtioTransportKind?

    public init(transport: VirtioTransportKind? = nil) {
        self.transport = transport
    }

    init(options: [DeviceOptionList.Field], text: String, option: String) throws(DeviceSpecError) {
        for field in options {
            switch (field.key, field.value) {
            case ("transport", let value?):
                transport = try VirtioTransportKind(parsing: value, option: "\(option) transport")
            default:
                throw DeviceSpecError(option: option, value: text, expected: "expected \(Self.syntax)")
            }
        }
    }

    public var description: String { "virtio-rng" }

    func makeDevice(_ context: DeviceBuildContext) throws -> VirtioEntropyDevice {
        try VirtioEntropyDevice()
    }
}
