import Display
import Glibc

/// Writes pictures to files, as QEMU's `screendump` does: PNG or PPM, chosen by the path's
/// extension.
public enum Screenshot {
    /// The file formats, by extension.
    public enum Format: String, Sendable, CaseIterable {
        case png, ppm

        /// The format `path`'s extension names (case-insensitive), or nil.
        public init?(path: String) {
            guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return nil }
            self.init(rawValue: path[path.index(after: dot)...].lowercased())
        }
    }

    /// The file's bytes for `image` in `format`.
    public static func encode(_ image: PixelImage, as format: Format) throws(ScreenshotError) -> [UInt8] {
        switch format {
        case .ppm: return PPMEncoding.encode(image)
        case .png:
            do { return try PNGEncoding.encode(image) } catch {
                throw .compressionFailed(path: "", reason: error.description)
            }
        }
    }

    /// Writes `image` to `path` as PNG (8-bit RGB) or PPM (P6), by the extension (`.png`,
    /// `.ppm`). The file is written under a temporary name and renamed, so readers never see
    /// half a picture. `open(2)`, `write(2)`, `rename(2)`.
    public static func write(_ image: PixelImage, to path: String) throws(ScreenshotError) {
        guard let format = Format(path: path) else { throw .unsupportedFormat(path: path) }
        try write(image, to: path, as: format)
    }

    /// Writes `image` to `path` in `format`, whatever the path's extension (QMP `screendump`
    /// names the format separately), under a temporary name renamed into place.
    public static func write(_ image: PixelImage, to path: String, as format: Format) throws(ScreenshotError) {
        let bytes: [UInt8]
        do { bytes = try encode(image, as: format) } catch {
            if case .compressionFailed(_, let reason) = error { throw .compressionFailed(path: path, reason: reason) }
            throw error
        }
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .writeFailed(path: path, errno: errno) }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let e = n < 0 ? errno : EIO
                close(fd)
                unlink(temporary)
                throw .writeFailed(path: path, errno: e)
            }
            written += n
        }
        guard close(fd) == 0 else {
            let e = errno
            unlink(temporary)
            throw .writeFailed(path: path, errno: e)
        }
        guard rename(temporary, path) == 0 else {
            let e = errno
            unlink(temporary)
            throw .writeFailed(path: path, errno: e)
        }
    }
}
