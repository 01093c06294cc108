import CDeviceModelShims
import X86Machine
#if canImport(Glibc)
import Glibc
#endif

/// Checks on the host files a machine is given, before anything is built, so bad input fails
/// with one line naming the file.
public enum HostFiles {
    /// Why `path` cannot be used (opened read-only, or read-write when `writable`), or nil.
    ///
    /// The path is opened with `O_NONBLOCK` — a FIFO would otherwise block `open` until a
    /// writer appears, with no message and no way to interrupt it — and its type checked
    /// with `fstat` before anything reads it.
    public static func problem(_ path: String, writable: Bool) -> String? {
        let fd = swiftdm_open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0)
        guard fd >= 0 else { return String(cString: strerror(errno)) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return String(cString: strerror(errno)) }
        let type = st.st_mode & S_IFMT
        guard type == S_IFREG || type == S_IFBLK else {
            return "a \(FileKind.name(ofMode: st.st_mode)), not a regular file or block device"
        }
        return nil
    }

    /// Checks the host files `spec` names (a disk's image), reporting them under `option`.
    /// A file that may be read but not written is usable read-only: the message says so.
    public static func check(_ spec: VirtioDeviceSpec, option: String) throws(MachineError) {
        guard case .block(let disk) = spec else { return }
        if let problem = problem(disk.path, writable: !disk.readOnly) {
            let hint = !disk.readOnly && Self.problem(disk.path, writable: false) == nil ? " (add readonly=on to use it read-only)" : ""
            throw .fileUnusable(option: option, path: disk.path, reason: problem + hint)
        }
    }

    /// The first line of the small text file at `path` (a password file), without its newline.
    /// Only the first 4 KiB are read: a secret is never longer.
    public static func firstLine(of path: String, option: String) throws(MachineError) -> String {
        if let problem = problem(path, writable: false) { throw .fileUnusable(option: option, path: path, reason: problem) }
        let fd = swiftdm_open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY, 0)
        guard fd >= 0 else { throw .fileUnusable(option: option, path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n >= 0 else { throw .fileUnusable(option: option, path: path, reason: String(cString: strerror(errno))) }
        let line = buffer[..<n].prefix { $0 != UInt8(ascii: "\n") && $0 != UInt8(ascii: "\r") }
        return String(decoding: line, as: UTF8.self)
    }
}
