import DeviceModel
#if canImport(Glibc)
import Glibc
#endif

/// Checks on descriptors a frontend hands over, before the backend uses them.
///
/// A frontend is an untrusted process: a pipe passed as a call or err descriptor blocks the
/// backend's `write` once full (and with it the connection thread and SIGTERM handling), and
/// an always-readable file (`/dev/null`, a regular file, a directory) passed as a kick
/// descriptor makes the queue thread spin. So kick, call and err descriptors must be
/// eventfds, or sockets (user-mode Linux's virtio_uml hands over one end of a socket pair
/// for its calls, writing and reading the same 8-byte counters) — made non-blocking here, so
/// a saturated counter or a full socket reads as "already signalled" (``EventNotifier/signal()``
/// treats `EAGAIN` so) — and memory descriptors regular files (which memfds and hugetlbfs
/// files are).
extension ReceivedDescriptor {
    /// What `/proc/self/fd/<fd>` links to: `anon_inode:[eventfd]`, `pipe:[1234]`, a path.
    var kernelName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        let n = readlink("/proc/self/fd/\(raw)", &buffer, buffer.count - 1)
        guard n > 0 else { return "descriptor \(raw) (unnamed: errno \(errno))" }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Takes ownership as an ``EventNotifier`` after checking that the descriptor is an
    /// eventfd or a socket, and sets `O_NONBLOCK` on it (the open file is shared with the frontend;
    /// QEMU creates its eventfds non-blocking already). `readlink(2)`, `fcntl(2)`.
    func takeEventNotifier(for request: String) throws(VhostUserError) -> EventNotifier {
        let name = kernelName
        guard name == "anon_inode:[eventfd]" || name.hasPrefix("socket:[") else {
            throw .wrongDescriptorKind(request: request, expected: "eventfd or socket", found: name)
        }
        let flags = fcntl(raw, F_GETFL)
        guard flags >= 0, flags & O_NONBLOCK != 0 || fcntl(raw, F_SETFL, flags | O_NONBLOCK) == 0 else {
            throw .system(call: "fcntl(\(request) eventfd, O_NONBLOCK)", errno: errno)
        }
        return EventNotifier(adopting: take())
    }

    /// Checks that a memory-region descriptor is a regular file (a memfd, a tmpfs or
    /// hugetlbfs file): anything else cannot back shared guest RAM. `fstat(2)`.
    func checkMemoryFile(for request: String) throws(VhostUserError) {
        var st = stat()
        guard fstat(raw, &st) == 0 else { throw .system(call: "fstat(\(request) memory descriptor)", errno: errno) }
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw .wrongDescriptorKind(request: request, expected: "regular file or memfd", found: kernelName)
        }
    }
}
