import DeviceModel

/// Why a firmware image cannot be used.
public enum FirmwareImageError: Error, Equatable, CustomStringConvertible {
    case empty(name: String)
    case tooLarge(name: String, size: Int64, maximum: Int)
    case unreadable(path: String, errno: Int32)
    case notRegularFile(path: String)
    /// RAM does not cover the legacy range below 1 MiB.
    case legacyCopyFailed(name: String, range: AddressRange, GuestMemoryError)

    public var description: String {
        switch self {
        case .empty(let name):
            "firmware \(name): the image is empty"
        case .tooLarge(let name, let size, let maximum):
            "firmware \(name): \(size) bytes exceed the \(maximum >> 20) MiB flash area below 4 GiB"
        case .unreadable(let path, let errno):
            "firmware \(path): cannot read it (errno \(errno))"
        case .notRegularFile(let path):
            "firmware \(path): not a regular file"
        case .legacyCopyFailed(let name, let range, let error):
            "firmware \(name): cannot copy its last \(range.length) bytes to \(range): \(error)"
        }
    }
}
