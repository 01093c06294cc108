/// Why a screenshot was not written.
public enum ScreenshotError: Error, Equatable, CustomStringConvertible {
    /// The path's extension names no format this writer knows (`.png`, `.ppm`).
    case unsupportedFormat(path: String)
    /// The file could not be created or written.
    case writeFailed(path: String, errno: Int32)
    /// zlib failed while compressing the PNG.
    case compressionFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case .unsupportedFormat(let p): "cannot tell the screenshot format of '\(p)': use .png or .ppm"
        case .writeFailed(let p, let e): "cannot write screenshot '\(p)': errno \(e)"
        case .compressionFailed(let p, let r): "cannot compress screenshot '\(p)': \(r)"
        }
    }
}
