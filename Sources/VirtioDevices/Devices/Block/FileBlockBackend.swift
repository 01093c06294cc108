import CDeviceModelShims
#if canImport(Glibc)
import Glibc
#endif

/// A raw image in a regular file or a host block device, accessed with `preadv`/`pwritev`
/// straight from and into guest memory.
///
/// The image is locked with `flock` (shared when read-only, exclusive otherwise), as QEMU
/// locks its images, so two writers cannot corrupt it.
public final class FileBlockBackend: BlockBackend {
    public let path: String
    public let capacity: UInt64
    public let isReadOnly: Bool
    private let fd: Int32

    /// `BLKGETSIZE64` (`_IOR(0x12, 114, size_t)` in <linux/fs.h>).
    private static let blkGetSize64: UInt = 0x8008_1272
    /// <linux/falloc.h>
    private static let fallocKeepSize: Int32 = 0x01
    private static let fallocPunchHole: Int32 = 0x02
    private static let fallocZeroRange: Int32 = 0x10
    /// Linux's `UIO_MAXIOV`: the most iovecs one `preadv`/`pwritev` takes.
    private static let maxIOVecs = 1024

    /// Opens `path`. `open(2)`, `fstat(2)`, `flock(2)`.
    public init(path: String, readOnly: Bool) throws(VirtioBlockError) {
        let flags = (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC
        var fd: Int32
        repeat { fd = swiftdm_open(path, flags, 0) } while fd < 0 && errno == EINTR
        guard fd >= 0 else { throw .open(path: path, errno: errno) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = errno
            close(fd)
            throw .open(path: path, errno: e)
        }
        var size: UInt64 = 0
        switch st.st_mode & S_IFMT {
        case S_IFREG:
            size = UInt64(st.st_size)
        case S_IFBLK:
            guard swiftdm_ioctl_ptr(fd, Self.blkGetSize64, &size) == 0 else {
                let e = errno
                close(fd)
                throw .open(path: path, errno: e)
            }
        default:
            close(fd)
            throw .unsupportedImage(path: path)
        }
        guard flock(fd, (readOnly ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0 else {
            let e = errno
            close(fd)
            if e == EWOULDBLOCK { throw .imageLocked(path: path) }
            throw .open(path: path, errno: e)
        }
        self.path = path
        self.fd = fd
        self.capacity = size
        self.isReadOnly = readOnly
    }

    deinit { close(fd) }

    public func read(into buffers: [UnsafeMutableRawBufferPointer], at offset: UInt64) throws(VirtioBlockError) {
        try transfer(buffers, at: offset, operation: "preadv") { fd, iov, count, off in preadv(fd, iov, count, off) }
    }

    public func write(from buffers: [UnsafeMutableRawBufferPointer], at offset: UInt64) throws(VirtioBlockError) {
        guard !isReadOnly else { throw .io(operation: "pwritev", offset: offset, errno: EROFS) }
        try transfer(buffers, at: offset, operation: "pwritev") { fd, iov, count, off in pwritev(fd, iov, count, off) }
    }

    /// Moves every byte of `buffers`, retrying short transfers and EINTR; a transfer that
    /// makes no progress (end of image, full disk) is an error, never a silent truncation.
    private func transfer(
        _ buffers: [UnsafeMutableRawBufferPointer], at offset: UInt64, operation: String,
        _ call: (Int32, UnsafePointer<iovec>, Int32, off_t) -> Int
    ) throws(VirtioBlockError) {
        var iovecs = buffers.filter { $0.count > 0 }.map { iovec(iov_base: $0.baseAddress, iov_len: $0.count) }
        var first = 0
        var position = offset
        while first < iovecs.count {
            let count = min(iovecs.count - first, Self.maxIOVecs)
            let n = iovecs.withUnsafeBufferPointer { call(fd, $0.baseAddress! + first, Int32(count), off_t(clamping: position)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(operation: operation, offset: position, errno: errno)
            }
            if n == 0 { throw .io(operation: operation, offset: position, errno: operation == "preadv" ? EIO : ENOSPC) }
            position += UInt64(n)
            var left = n
            while left > 0 {
                let len = iovecs[first].iov_len
                if left >= len {
                    left -= len
                    first += 1
                } else {
                    iovecs[first].iov_base = iovecs[first].iov_base! + left
                    iovecs[first].iov_len = len - left
                    left = 0
                }
            }
        }
    }

    public func flush() throws(VirtioBlockError) {
        while fdatasync(fd) != 0 {
            if errno == EINTR { continue }
            throw .io(operation: "fdatasync", offset: 0, errno: errno)
        }
    }

    public func discard(offset: UInt64, length: UInt64) throws(VirtioBlockError) {
        guard !isReadOnly else { throw .io(operation: "discard", offset: offset, errno: EROFS) }
        // Discard is a hint (§5.2.6.2 "MAY deallocate"): a filesystem without hole punching
        // simply keeps the data.
        switch fallocate(Self.fallocPunchHole | Self.fallocKeepSize, offset, length) {
        case nil, EOPNOTSUPP?, ENOSYS?: return
        case let e?: throw .io(operation: "fallocate(PUNCH_HOLE)", offset: offset, errno: e)
        }
    }

    public func writeZeroes(offset: UInt64, length: UInt64, mayUnmap: Bool) throws(VirtioBlockError) {
        guard !isReadOnly else { throw .io(operation: "write zeroes", offset: offset, errno: EROFS) }
        // Cheapest first; every branch leaves the range reading as zeroes (§5.2.6.2).
        var attempts = [Self.fallocZeroRange | Self.fallocKeepSize]
        if mayUnmap { attempts.insert(Self.fallocPunchHole | Self.fallocKeepSize, at: 0) }
        for mode in attempts {
            switch fallocate(mode, offset, length) {
            case nil: return
            case EOPNOTSUPP?, ENOSYS?, EINVAL?: continue
            case let e?: throw .io(operation: "fallocate(\(mode))", offset: offset, errno: e)
            }
        }
        try writeZeroBytes(offset: offset, length: length)
    }

    private func fallocate(_ mode: Int32, _ offset: UInt64, _ length: UInt64) -> Int32? {
        guard length > 0 else { return nil }
        guard offset <= UInt64(Int64.max), length <= UInt64(Int64.max) else { return EINVAL }
        while swiftdm_fallocate(fd, mode, Int64(offset), Int64(length)) != 0 {
            if errno == EINTR { continue }
            return errno
        }
        return nil
    }

    private static let zeroChunk = 1 << 20

    private func writeZeroBytes(offset: UInt64, length: UInt64) throws(VirtioBlockError) {
        let zeroes = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.zeroChunk, alignment: 4096)
        defer { zeroes.deallocate() }
        zeroes.initializeMemory(as: UInt8.self, repeating: 0)
        var done: UInt64 = 0
        while done < length {
            let n = Int(min(UInt64(Self.zeroChunk), length - done))
            try write(from: [UnsafeMutableRawBufferPointer(rebasing: zeroes[0..<n])], at: offset + done)
            done += UInt64(n)
        }
    }
}
