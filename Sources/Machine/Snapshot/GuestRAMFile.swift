import DeviceModel
#if canImport(Glibc)
import Glibc
#endif

/// Guest RAM in a snapshot: one sparse file in which every byte of RAM sits at its
/// guest-physical address. Pages that are all zero are left as holes, and pages with data are
/// written straight from the guest's mapping (`pwrite`, no copy per page), so a 256 MiB guest
/// that touched 60 MiB takes about 60 MiB of disk. Loading reads only the file's data extents
/// (`SEEK_DATA`/`SEEK_HOLE`) into a freshly mapped, zeroed RAM.
public enum GuestRAMFile {
    /// Granularity of the zero check (and of holes).
    static let page = 4096
    /// `lseek` whences from `<unistd.h>` that Glibc's module hides behind `_GNU_SOURCE`
    /// (Linux's values).
    static let seekData: Int32 = 3
    static let seekHole: Int32 = 4

    /// Why RAM could not be written or read.
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "guest RAM file \(path): \(reason)" }
    }

    /// Writes `regions` to `path` (replaced); returns the bytes of data written.
    @discardableResult
    public static func write(_ regions: [GuestMemoryRegion], to path: String) throws(Failure) -> UInt64 {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var written: UInt64 = 0
        for region in regions {
            let pages = Int(region.length) / page
            var i = 0
            while i < pages {
                // Find the next run of pages that are not all zero.
                while i < pages, isZero(region.host + i * page) { i += 1 }
                let start = i
                while i < pages, !isZero(region.host + i * page) { i += 1 }
                guard i > start else { continue }
                var offset = 0
                let length = (i - start) * page
                while offset < length {
                    let n = pwrite(fd, region.host + start * page + offset, length - offset,
                                   off_t(region.guestBase) + off_t(start * page + offset))
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { throw Failure(path: path, reason: "write: \(String(cString: strerror(errno)))") }
                    offset += n
                }
                written += UInt64(length)
            }
        }
        let end = regions.map { $0.guestBase + $0.length }.max() ?? 0
        guard ftruncate(fd, off_t(end)) == 0, fsync(fd) == 0 else {
            throw Failure(path: path, reason: "truncate/sync: \(String(cString: strerror(errno)))")
        }
        return written
    }

    /// Reads `path` into `regions` (which must be zeroed: holes are not written). The file must
    /// cover every region.
    @discardableResult
    public static func read(_ path: String, into regions: [GuestMemoryRegion]) throws(Failure) -> UInt64 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw Failure(path: path, reason: "stat: \(String(cString: strerror(errno)))") }
        let end = regions.map { $0.guestBase + $0.length }.max() ?? 0
        guard UInt64(st.st_size) == end else {
            throw Failure(path: path, reason: "\(st.st_size) bytes, expected \(end) (a snapshot of a guest with another amount of RAM?)")
        }
        var loaded: UInt64 = 0
        for region in regions {
            var at = off_t(region.guestBase)
            let limit = off_t(region.guestBase + region.length)
            while at < limit {
                let data = lseek(fd, at, Self.seekData)
                if data < 0 && errno == ENXIO { break }   // no data beyond: the rest is zero
                guard data >= 0 else { throw Failure(path: path, reason: "seek: \(String(cString: strerror(errno)))") }
                guard data < limit else { break }
                var hole = lseek(fd, data, Self.seekHole)
                if hole < 0 { hole = limit }
                let stop = min(hole, limit)
                var offset = data
                while offset < stop {
                    let n = pread(fd, region.host + Int(offset - off_t(region.guestBase)), Int(stop - offset), offset)
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { throw Failure(path: path, reason: "read: \(n == 0 ? "unexpected end" : String(cString: strerror(errno)))") }
                    offset += off_t(n)
                }
                loaded += UInt64(stop - data)
                at = stop
            }
        }
        return loaded
    }

    private static func isZero(_ p: UnsafeMutableRawPointer) -> Bool {
        let words = p.assumingMemoryBound(to: UInt64.self)
        for w in 0..<(page / 8) where words[w] != 0 { return false }
        return true
    }
}
