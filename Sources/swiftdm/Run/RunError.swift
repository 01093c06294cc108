/// Why `swiftdm run` refused to start or stopped: each case prints as one line naming the
/// offending value.
enum RunError: Error, Equatable, CustomStringConvertible {
    case usage(String)
    case badValue(option: String, value: String, expected: String)
    case fileUnusable(option: String, path: String, reason: String)
    case conflictingOptions(String)
    case setupFailed(String)
    case vcpuFailed(String)

    var description: String {
        switch self {
        case .usage(let message): message
        case .badValue(let option, let value, let expected): "\(option) '\(value)': \(expected)"
        case .fileUnusable(let option, let path, let reason): "\(option) \(path): \(reason)"
        case .conflictingOptions(let message): message
        case .setupFailed(let message): message
        case .vcpuFailed(let message): message
        }
    }
}
