/// Why a display image or surface could not be made.
public enum DisplayError: Error, Equatable, CustomStringConvertible {
    /// Width or height zero, negative or above ``PixelImage/maximumDimension``.
    case invalidSize(width: Int, height: Int)
    /// The host could not allocate `bytes` for an image.
    case outOfMemory(bytes: Int)

    public var description: String {
        switch self {
        case .invalidSize(let w, let h): "image size \(w)x\(h) is outside 1...\(PixelImage.maximumDimension) on each side"
        case .outOfMemory(let b): "cannot allocate \(b) bytes for an image"
        }
    }
}
