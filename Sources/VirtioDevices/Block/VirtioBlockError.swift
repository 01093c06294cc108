import HostIO
import Virtio

/// Errors of the virtio-blk device.
public enum VirtioBlockError: Error, Equatable, CustomStringConvertible {
    /// A configuration field is out of range.
    case invalidConfiguration(String)
    /// The serial is longer than 20 bytes or not printable ASCII.
    case invalidSerial(String)
    /// The image could not be opened or used (a request that fails this way completes with
    /// `VIRTIO_BLK_S_IOERR` instead).
    case backend(BlockBackendError)
    /// The device's threads could not start.
    case runtime(VirtioDeviceError)

    public var description: String {
        switch self {
        case .invalidConfiguration(let m): "virtio-blk configuration: \(m)"
        case .invalidSerial(let s): "virtio-blk serial \"\(s)\" must be at most 20 bytes of printable ASCII"
        case .backend(let e): "\(e)"
        case .runtime(let e): "virtio-blk: \(e)"
        }
    }
}
