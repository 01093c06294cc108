import HostIO
import Virtio

/// Errors of the virtio-console device.
public enum VirtioConsoleError: Error, Equatable, CustomStringConvertible {
    /// A configuration field is out of range.
    case invalidConfiguration(String)
    /// The console backend could not start.
    case backend(ConsoleBackendError)
    /// The device's I/O thread could not start.
    case runtime(VirtioDeviceError)

    public var description: String {
        switch self {
        case .invalidConfiguration(let m): "virtio-console configuration: \(m)"
        case .backend(let e): "\(e)"
        case .runtime(let e): "virtio-console: \(e)"
        }
    }
}
