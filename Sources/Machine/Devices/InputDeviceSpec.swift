import Display
import VirtioDevices

/// A virtio-input device: `--input keyboard|tablet|mouse[,transport=…]`, or
/// `virtio-keyboard`, `virtio-tablet`, `virtio-mouse` through `--device` (QEMU's names). It
/// receives what the machine's outputs (VNC) send through ``Display/InputRouter``.
public struct InputDeviceSpec: Hashable, Sendable, CustomStringConvertible {
    static let syntax = "keyboard|tablet|mouse[,transport=pci|pci-transitional|mmio]"

    public var kind: InputDeviceKind
    public var transport: VirtioTransportKind?

    public init(kind: InputDeviceKind, transport: VirtioTransportKind? = nil) {
        self.kind = kind
        self.transport = transport
    }

    init(kind: InputDeviceKind, options: [DeviceOptionList.Field], text: String, option: String) throws(DeviceSpecError) {
        self.kind = kind
        for field in options {
            switch (field.key, field.value) {
            case ("transport", let value?):
                transport = try VirtioTransportKind(parsing: value, option: "\(option) transport")
            default:
                throw DeviceSpecError(option: option, value: text, expected: "unknown input option '\(field.key)' (transport)")
            }
        }
    }

    public var description: String { "virtio-\(kind)" }

    func makeDevice(_ context: DeviceBuildContext) throws -> VirtioInputDevice {
        let device = try VirtioInputDevice(configuration: VirtioInputConfiguration(kind: kind), logger: context.logger)
        context.display?.input.attach(device)
        return device
    }
}
