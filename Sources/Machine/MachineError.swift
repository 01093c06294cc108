import DeviceModel

/// Why a machine could not be built or run; each case prints as one line naming the offending
/// value.
public enum MachineError: Error, Equatable, CustomStringConvertible {
    /// A device option was refused.
    case badDevice(DeviceSpecError)
    /// A machine-wide value was refused (`--memory`, `--cpus`).
    case badValue(option: String, value: String, expected: String)
    /// A file given for `option` cannot be used.
    case fileUnusable(option: String, path: String, reason: String)
    /// Two options contradict each other, or one needs another.
    case conflictingOptions(String)
    /// A device could not be built (its image, tap or socket).
    case deviceUnusable(device: String, reason: String)
    /// No room for a device on its transport.
    case noFreeSlot(device: String, transport: VirtioTransportKind, reason: String)
    /// The backend, the platform or the boot image could not be set up.
    case setupFailed(String)
    /// The seccomp allow-list could not be installed.
    case syscallFilter(reason: String, errno: Int32)

    /// A control request (QMP) this machine cannot honour, with why.
    case controlRefused(String)
    /// Saved state that cannot be restored (damaged, foreign, or another configuration).
    case deviceState(DeviceStateError)
    /// A device whose state cannot be saved yet, so the machine cannot be snapshotted.
    case snapshotUnsupported(device: String, reason: String)

    public var description: String {
        switch self {
        case .badDevice(let e): e.description
        case .badValue(let option, let value, let expected): "\(option) '\(value)': \(expected)"
        case .fileUnusable(let option, let path, let reason): "\(option) \(path): \(reason)"
        case .conflictingOptions(let message): message
        case .deviceUnusable(let device, let reason): "\(device): \(reason)"
        case .noFreeSlot(let device, let transport, let reason): "\(device): no free \(transport) slot (\(reason))"
        case .setupFailed(let message): message
        case .syscallFilter(let reason, let e): "system call filter: \(reason) (errno \(e))"
        case .controlRefused(let why): why
        case .deviceState(let e): e.description
        case .snapshotUnsupported(let d, let why): "cannot snapshot this machine: \(d): \(why)"
        }
    }
}
