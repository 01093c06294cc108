import CDeviceModelShims
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A raw image in a regular file or a host block device, accessed with `preadv`/`pwritev`
/// straight from and into guest memory, or, for a buffered image in a file system that keeps
/// files in memory, copied through a mapping of the whole image (``ImageMapping``).
///
/// The image is locked with `flock` (shared when read-only, exclusive otherwise), as QEMU
/// locks its images, so two writers cannot corrupt it.
///
/// With ``BlockCacheMode/none`` the image is opened `O_DIRECT` where the file system allows
/// it; transfers whose buffers or offset do not meet ``directIO``'s alignment bounce through
/// an aligned buffer (guest buffers can start anywhere), the others go straight to the disk.
public final class FileBlockBackend: ResizableBlockBackend {
    /// The image as opened.
    public let path: String
    /// The image's size in bytes: as opened, then as ``resize(to:)`` left it.
    public var capacity: UInt64 { currentSize.load(ordering: .acquiring) }
    private let currentSize: Atomic<UInt64>
    /// True for a regular file (which ``resize(to:)`` can change), false for a block device.
    private let isRegularFile: Bool
    public let isReadOnly: Bool
    /// The cache mode asked for.
    public let cache: BlockCacheMode
    /// The alignment `O_DIRECT` needs, or `nil` when the image is buffered (``BlockCacheMode/writeback``,
    /// or ``BlockCacheMode/none`` where the file system refused `O_DIRECT`).
    public let directIO: DirectIOAlignment?
    /// Why ``BlockCacheMode/none`` fell back to buffered I/O, for the one warning the device
    /// logs at start; `nil` otherwise.
    public let directIOFallback: String?
    /// The file system holding the image when it keeps files in memory ("tmpfs", "ramfs",
    /// "hugetlbfs"), where no transfer waits on a device; `nil` otherwise (and for block
    /// devices). `fstatfs(2)`.
    public let memoryFileSystem: String?
    /// The open image, for engines that submit their own I/O on it (io_uring). Valid as long
    /// as this backend lives.
    public let fileDescriptor: Int32
    private var fd: Int32 { fileDescriptor }
    /// A buffered image on a memory file system, mapped whole: ``read(into:at:)`` and
    /// ``write(from:at:)`` copy through it (``ImageMapping``). `nil` elsewhere, after the
    /// mapping faulted (the file shrank under it), or where it could not be made.
    private let mapping: Mutex<ImageMapping?>
    /// True while transfers copy through a mapping of the image rather than `preadv`/`pwritev`.
    public var copiesThroughMapping: Bool { currentMapping() != nil }

    /// `BLKGETSIZE64` (`_IOR(0x12, 114, size_t)` in <linux/fs.h>).
    private static let blkGetSize64: UInt = 0x8008_1272
    /// <linux/falloc.h>
    private static let fallocKeepSize: Int32 = 0x01
    private static let fallocPunchHole: Int32 = 0x02
    private static let fallocZeroRange: Int32 = 0x10
    /// virtio-blk's sector: the finest granularity of a request's offset and length.
    private static let sectorSize: UInt32 = 512
    /// Linux's `UIO_MAXIOV`: the most iovecs one `preadv`/`pwritev` takes.
    private static let maxIOVecs = 1024

    /// Opens `path`. `open(2)`, `fstat(2)`, `flock(2)`.
    ///
    /// Opened with `O_NONBLOCK` so a FIFO in the image's place is refused by type instead of
    /// blocking `open` until a writer appears; the flag is cleared once the type is known.
    ///
    /// `cache: .none` adds `O_DIRECT`; a file system that refuses it (`EINVAL` at open), or
    /// one that needs file offsets aligned beyond virtio-blk's 512-byte sectors, gets the
    /// image buffered instead, with the reason in ``directIOFallback``.
    ///
    /// `lockingNow: false` leaves the lock for ``lockImage()``: an incoming migration's
    /// device model opens the image while the sending one still holds it.
    public init(path: String, readOnly: Bool, cache: BlockCacheMode = .writeback, lockingNow: Bool = true) throws(BlockBackendError) {
        let flags = (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK | O_NOCTTY
        var fd: Int32
        var fallback: String?
        repeat { fd = swiftdm_open(path, flags | (cache == .none ? swiftdm_o_direct() : 0), 0) } while fd < 0 && errno == EINTR
        if fd < 0 && cache == .none && errno == EINVAL {
            fallback = "the file system refuses O_DIRECT"
            repeat { fd = swiftdm_open(path, flags, 0) } while fd < 0 && errno == EINTR
        }
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
        guard fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) == 0 else {
            let e = errno
            close(fd)
            throw .open(path: path, errno: e)
        }
        if lockingNow {
            do throws(BlockBackendError) { try Self.lock(fd, readOnly: readOnly, path: path) } catch {
                close(fd)
                throw error
            }
        }
        var direct: DirectIOAlignment?
        if cache == .none && fallback == nil {
            (direct, fallback) = Self.directIOAlignment(fd)
            if direct == nil {
                // O_DIRECT can be cleared on an open descriptor (fcntl F_SETFL).
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~swiftdm_o_direct())
            }
        }
        self.memoryFileSystem = st.st_mode & S_IFMT == S_IFREG ? Self.memoryFileSystem(fd) : nil
        self.path = path
        self.fileDescriptor = fd
        self.currentSize = Atomic(size)
        self.isRegularFile = st.st_mode & S_IFMT == S_IFREG
        self.isReadOnly = readOnly
        self.cache = cache
        self.directIO = direct
        self.directIOFallback = fallback
        let mapped = direct == nil && memoryFileSystem != nil
        self.mapping = Mutex(mapped ? ImageMapping(fd: fd, length: size, readOnly: readOnly) : nil)
    }

    deinit { close(fd) }

    /// Takes the image's lock (shared when read-only, exclusive otherwise) if the image was
    /// opened without it; idempotent. Fails with ``BlockBackendError/imageLocked(path:)`` while
    /// another process holds a conflicting lock.
    public func lockImage() throws(BlockBackendError) {
        try Self.lock(fileDescriptor, readOnly: isReadOnly, path: path)
    }

    /// Lets go of the image's lock (a migration's sending side, once the receiving side is to
    /// take over); ``lockImage()`` takes it again.
    public func unlockImage() {
        while flock(fileDescriptor, LOCK_UN) != 0 && errno == EINTR {}
    }

    private static func lock(_ fd: Int32, readOnly: Bool, path: String) throws(BlockBackendError) {
        var result: Int32
        repeat { result = flock(fd, (readOnly ? LOCK_SH : LOCK_EX) | LOCK_NB) } while result != 0 && errno == EINTR
        guard result == 0 else {
            if errno == EWOULDBLOCK { throw .imageLocked(path: path) }
            throw .open(path: path, errno: errno)
        }
    }

    /// Truncates or extends the image file to `bytes`. `ftruncate(2)`, retried on `EINTR`.
    public func resize(to bytes: UInt64) throws(BlockBackendError) {
        guard !isReadOnly else { throw .resize(path: path, bytes: bytes, reason: "the image is read-only") }
        guard isRegularFile else { throw .resize(path: path, bytes: bytes, reason: "only image files can be resized, not block devices") }
        guard let length = off_t(exactly: bytes) else { throw .resize(path: path, bytes: bytes, reason: "size out of range") }
        var rc: Int32
        repeat { rc = ftruncate(fd, length) } while rc < 0 && errno == EINTR
        guard rc == 0 else { throw .resize(path: path, bytes: bytes, reason: String(cString: strerror(errno))) }
        currentSize.store(bytes, ordering: .releasing)
        // Transfers racing the change finish on the old mapping (its pages past a shrunk end
        // fault into the guard and fail); later ones use one of the new size.
        mapping.withLock { m in
            guard m != nil else { return }
            m = ImageMapping(fd: fd, length: bytes, readOnly: isReadOnly)
        }
    }

    /// The mapping, if transfers are to use it; a poisoned one is dropped for good.
    private func currentMapping() -> ImageMapping? {
        mapping.withLock { m in
            if m?.isPoisoned == true { m = nil }
            return m
        }
    }

    /// Bytes in `buffers`.
    private static func byteCount(_ buffers: [UnsafeMutableRawBufferPointer]) -> Int {
        var n = 0
        for b in buffers { n += b.count }
        return n
    }

    /// `f_type` magic numbers (<linux/magic.h>) of the file systems that keep files in memory.
    private static let memoryFileSystems: [Int: String] = [0x0102_1994: "tmpfs", 0x8584_58f6: "ramfs", 0x9584_58f6: "hugetlbfs"]

    private static func memoryFileSystem(_ fd: Int32) -> String? {
        let type = swiftdm_fstatfs_type(fd)
        return type < 0 ? nil : memoryFileSystems[Int(type)]
    }

    /// The alignment `O_DIRECT` needs on `fd`, or why it is not used. Offsets aligned
    /// beyond 512 bytes are refused: a virtio-blk request may start at any 512-byte sector,
    /// and read-modify-write cycles would cost more than the page cache saves.
    private static func directIOAlignment(_ fd: Int32) -> (DirectIOAlignment?, String?) {
        var memory: UInt32 = 0, offset: UInt32 = 0
        let rc = swiftdm_dio_alignment(fd, &memory, &offset)
        // Without STATX_DIOALIGN (older kernels), assume the common 512-byte sector and
        // page-aligned bounce buffers.
        if rc == -EOPNOTSUPP || rc == -EINVAL { (memory, offset) = (512, 512) } else if rc != 0 {
            return (nil, "statx(STATX_DIOALIGN) failed: errno \(-rc)")
        }
        guard offset <= Self.sectorSize else {
            return (nil, "O_DIRECT needs \(offset)-byte aligned offsets, virtio-blk sectors are 512 bytes")
        }
        return (DirectIOAlignment(memory: Int(max(memory, 1)), offset: UInt64(offset)), nil)
    }

    public func read(into buffers: [UnsafeMutableRawBufferPointer], at offset: UInt64) throws(BlockBackendError) {
        if let mapped = currentMapping(), mapped.covers(offset, Self.byteCount(buffers)) {
            return try mapped.copy(into: buffers, at: offset)
        }
        if let directIO, !directIO.admits(buffers, at: offset) {
            let bounce = BounceBuffer(length: Self.byteCount(buffers), alignment: directIO.bufferAlignment)
            try transfer([bounce.bytes], at: offset, operation: "preadv") { fd, iov, count, off in preadv(fd, iov, count, off) }
            bounce.scatter(into: buffers)
            return
        }
        try transfer(buffers, at: offset, operation: "preadv") { fd, iov, count, off in preadv(fd, iov, count, off) }
    }

    public func write(from buffers: [UnsafeMutableRawBufferPointer], at offset: UInt64) throws(BlockBackendError) {
        guard !isReadOnly else { throw .io(operation: "pwritev", offset: offset, errno: EROFS) }
        if let mapped = currentMapping(), mapped.covers(offset, Self.byteCount(buffers)) {
            return try mapped.copy(from: buffers, at: offset)
        }
        if let directIO, !directIO.admits(buffers, at: offset) {
            let bounce = BounceBuffer(length: Self.byteCount(buffers), alignment: directIO.bufferAlignment)
            bounce.gather(from: buffers)
            try transfer([bounce.bytes], at: offset, operation: "pwritev") { fd, iov, count, off in pwritev(fd, iov, count, off) }
            return
        }
        try transfer(buffers, at: offset, operation: "pwritev") { fd, iov, count, off in pwritev(fd, iov, count, off) }
    }

    /// Moves every byte of `buffers`, retrying short transfers and EINTR; a transfer that
    /// makes no progress (end of image, full disk) is an error, never a silent truncation.
    private func transfer(
        _ buffers: [UnsafeMutableRawBufferPointer], at offset: UInt64, operation: String,
        _ call: (Int32, UnsafePointer<iovec>, Int32, off_t) -> Int
    ) throws(BlockBackendError) {
        // The iovecs live on the stack for the usual few segments (no allocation per request).
        let result = withUnsafeTemporaryAllocation(of: iovec.self, capacity: buffers.count) { iovecs -> Result<Void, BlockBackendError> in
            var total = 0
            for b in buffers where b.count > 0 {
                iovecs[total] = iovec(iov_base: b.baseAddress, iov_len: b.count)
                total += 1
            }
            guard let base = iovecs.baseAddress, total > 0 else { return .success(()) }
            return Result { () throws(BlockBackendError) in
                try transfer(iovecs: base, count: total, at: offset, operation: operation, call)
            }
        }
        try result.get()
    }

    private func transfer(
        iovecs: UnsafeMutablePointer<iovec>, count total: Int, at offset: UInt64, operation: String,
        _ call: (Int32, UnsafePointer<iovec>, Int32, off_t) -> Int
    ) throws(BlockBackendError) {
        var first = 0
        var position = offset
        while first < total {
            let count = min(total - first, Self.maxIOVecs)
            let n = call(fd, iovecs + first, Int32(count), off_t(clamping: position))
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

    public func flush() throws(BlockBackendError) {
        while fdatasync(fd) != 0 {
            if errno == EINTR { continue }
            throw .io(operation: "fdatasync", offset: 0, errno: errno)
        }
    }

    public func discard(offset: UInt64, length: UInt64) throws(BlockBackendError) {
        guard !isReadOnly else { throw .io(operation: "discard", offset: offset, errno: EROFS) }
        // Discard is a hint (§5.2.6.2 "MAY deallocate"): a filesystem without hole punching
        // simply keeps the data.
        switch fallocate(Self.fallocPunchHole | Self.fallocKeepSize, offset, length) {
        case nil, EOPNOTSUPP?, ENOSYS?: return
        case let e?: throw .io(operation: "fallocate(PUNCH_HOLE)", offset: offset, errno: e)
        }
    }

    public func writeZeroes(offset: UInt64, length: UInt64, mayUnmap: Bool) throws(BlockBackendError) {
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

    private func writeZeroBytes(offset: UInt64, length: UInt64) throws(BlockBackendError) {
        let zeroes = BounceBuffer(length: Self.zeroChunk, alignment: 4096)
        var done: UInt64 = 0
        while done < length {
            let n = Int(min(UInt64(Self.zeroChunk), length - done))
            try write(from: [UnsafeMutableRawBufferPointer(rebasing: zeroes.bytes[0..<n])], at: offset + done)
            done += UInt64(n)
        }
    }
}
