#if canImport(Glibc)
import Glibc
#endif

/// Names the type of a file from its `st_mode`, for messages that say why a path cannot be
/// used ("… is a FIFO, not a regular file").
public enum FileKind {
    /// "regular file", "directory", "FIFO", "socket", "character device", "block device",
    /// "symbolic link", or "file of type 0o…" for anything else.
    public static func name(ofMode mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFREG: "regular file"
        case S_IFDIR: "directory"
        case S_IFIFO: "FIFO"
        case S_IFSOCK: "socket"
        case S_IFCHR: "character device"
        case S_IFBLK: "block device"
        case S_IFLNK: "symbolic link"
        default: "file of type 0o\(String(mode & S_IFMT, radix: 8))"
        }
    }
}
