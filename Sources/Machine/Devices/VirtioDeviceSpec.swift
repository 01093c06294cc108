import Display
import Virtio

/// One virtio device a machine (or a vhost-user backend) should serve, as checked values: the
/// catalogue of every device kind swiftdm can build.
///
/// Every front end parses its device options here and builds devices with
/// ``DeviceCatalogue/makeDevice(_:context:)``, so `swiftdm run --disk`, `swiftdm xen --disk`,
/// `swiftdm vhost-user --blk` and `--device virtio-blk,…` accept and refuse the same spellings.
/// Adding a device kind is one case here (with its spec type beside it) and the device's own
/// folder under `VirtioDevices`.
public enum VirtioDeviceSpec: Hashable, Sendable, CustomStringConvertible {
    case block(BlockDeviceSpec)
    case net(NetDeviceSpec)
    case entropy(EntropyDeviceSpec)
    case console(ConsoleDeviceSpec)
    case gpu(GPUDeviceSpec)
    case input(InputDeviceSpec)

    /// The names `--device NAME,…` takes, with their option syntax (for help texts).
    public static let kinds: [(name: String, syntax: String)] = [
        ("virtio-blk", "file=" + BlockDeviceSpec.syntax.dropFirst("PATH".count)),
        ("virtio-net", NetDeviceSpec.syntax),
        ("virtio-rng", EntropyDeviceSpec.syntax),
        ("virtio-console", ConsoleDeviceSpec.syntax),
        ("virtio-gpu", GPUDeviceSpec.syntax),
        ("virtio-keyboard", "[transport=…]"),
        ("virtio-tablet", "[transport=…]"),
        ("virtio-mouse", "[transport=…]"),
    ]

    /// `--disk`/`--blk PATH[,readonly=on|off][,serial=ID][,transport=…]`.
    public static func block(parsing text: String, option: String) throws(DeviceSpecError) -> VirtioDeviceSpec {
        let list = DeviceOptionList(text)
        let (path, options) = list.positionalAndOptions
        return .block(try BlockDeviceSpec(positional: path, options: options, text: text, option: option))
    }

    /// `--net tap=NAME[,mac=MAC][,transport=…]`.
    public static func net(parsing text: String, option: String) throws(DeviceSpecError) -> VirtioDeviceSpec {
        .net(try NetDeviceSpec(options: DeviceOptionList(text).options, text: text, option: option))
    }

    /// `--console stdio|socket=PATH[,transport=…]`.
    public static func console(parsing text: String, option: String) throws(DeviceSpecError) -> VirtioDeviceSpec {
        .console(try ConsoleDeviceSpec(options: DeviceOptionList(text).options, text: text, option: option))
    }

    /// `--gpu [width=W,height=H,…]` (an empty text: the defaults).
    public static func gpu(parsing text: String, option: String) throws(DeviceSpecError) -> VirtioDeviceSpec {
        .gpu(try GPUDeviceSpec(options: text.isEmpty ? [] : DeviceOptionList(text).options, text: text, option: option))
    }

    /// `--input keyboard|tablet|mouse[,transport=…]`.
    public static func input(parsing text: String, option: String) throws(DeviceSpecError) -> VirtioDeviceSpec {
        let (kindName, options) = DeviceOptionList(text).positionalAndOptions
        guard let kind = InputDeviceKind(rawValue: kindName) else {
            throw DeviceSpecError(option: option, value: text, expected: "expected \(InputDeviceSpec.syntax)")
        }
        return .input(try InputDeviceSpec(kind: kind, options: options, text: text, option: option))
    }

    /// `--device NAME[,key=value…]`: any kind by its name in ``kinds``.
    public static func device(parsing text: String, option: String = "--device") throws(DeviceSpecError) -> VirtioDeviceSpec {
        let list = DeviceOptionList(text)
        let name = list.fields[0]
        let options = Array(list.options.dropFirst())
        switch name {
        case "virtio-blk": return .block(try BlockDeviceSpec(positional: nil, options: options, text: text, option: option))
        case "virtio-net": return .net(try NetDeviceSpec(options: options, text: text, option: option))
        case "virtio-rng": return .entropy(try EntropyDeviceSpec(options: options, text: text, option: option))
        case "virtio-console": return .console(try ConsoleDeviceSpec(options: options, text: text, option: option))
        case "virtio-gpu": return .gpu(try GPUDeviceSpec(options: options, text: text, option: option))
        case "virtio-keyboard", "virtio-tablet", "virtio-mouse":
            let kind = InputDeviceKind(rawValue: String(name.dropFirst("virtio-".count))) ?? .keyboard
            return .input(try InputDeviceSpec(kind: kind, options: options, text: text, option: option))
        default:
            throw DeviceSpecError(
                option: option, value: text, expected: "unknown device '\(name)' (\(kinds.map(\.name).joined(separator: ", ")))")
        }
    }

    /// The transport the device asked for; `nil` means the machine's default.
    public var transport: VirtioTransportKind? {
        switch self {
        case .block(let s): s.transport
        case .net(let s): s.transport
        case .entropy(let s): s.transport
        case .console(let s): s.transport
        case .gpu(let s): s.transport
        case .input(let s): s.transport
        }
    }

    public var description: String {
        switch self {
        case .block(let s): s.description
        case .net(let s): s.description
        case .entropy(let s): s.description
        case .console(let s): s.description
        case .gpu(let s): s.description
        case .input(let s): s.description
        }
    }

    /// Builds the device (opens its image, tap or socket).
    func makeDevice(_ context: DeviceBuildContext) throws -> any VirtioDevice {
        switch self {
        case .block(let s): try s.makeDevice(context)
        case .net(let s): try s.makeDevice(context)
        case .entropy(let s): try s.makeDevice(context)
        case .console(let s): try s.makeDevice(context)
        case .gpu(let s): try s.makeDevice(context)
        case .input(let s): try s.makeDevice(context)
        }
    }
}
