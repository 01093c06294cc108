#if canImport(Glibc)
import Glibc
#endif

/// The frontend's view of an inflight-tracking buffer (vhost-user.rst "Inflight I/O
/// tracking", split rings): maps the descriptor and reads or writes queue 0's region the way
/// a backend lays it out, so tests can check what a backend recorded or plant what a crashed
/// one would have left.
final class InflightView {
    let fd: Int32
    let size: Int
    let base: UnsafeMutableRawPointer

    init?(fd: Int32, size: Int) {
        guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else { return nil }
        self.fd = fd
        self.size = size
        base = p
    }

    deinit {
        munmap(base, size)
        close(fd)
    }

    var version: UInt16 {
        get { base.loadUnaligned(fromByteOffset: 8, as: UInt16.self) }
        set { base.storeBytes(of: newValue, toByteOffset: 8, as: UInt16.self) }
    }
    var descriptorCount: UInt16 { base.loadUnaligned(fromByteOffset: 10, as: UInt16.self) }
    var lastBatchHead: UInt16 {
        get { base.loadUnaligned(fromByteOffset: 12, as: UInt16.self) }
        set { base.storeBytes(of: newValue, toByteOffset: 12, as: UInt16.self) }
    }
    var usedIndex: UInt16 {
        get { base.loadUnaligned(fromByteOffset: 14, as: UInt16.self) }
        set { base.storeBytes(of: newValue, toByteOffset: 14, as: UInt16.self) }
    }

    func inflight(_ head: UInt16) -> UInt8 { base.load(fromByteOffset: 16 + 16 * Int(head), as: UInt8.self) }
    func counter(_ head: UInt16) -> UInt64 { base.loadUnaligned(fromByteOffset: 16 + 16 * Int(head) + 8, as: UInt64.self) }
    func next(_ head: UInt16) -> UInt16 { base.loadUnaligned(fromByteOffset: 16 + 16 * Int(head) + 6, as: UInt16.self) }

    /// Marks `head` as taken with `counter`, as a backend does when it pops it.
    func markTaken(_ head: UInt16, counter: UInt64) {
        base.storeBytes(of: counter, toByteOffset: 16 + 16 * Int(head) + 8, as: UInt64.self)
        base.storeBytes(of: UInt8(1), toByteOffset: 16 + 16 * Int(head), as: UInt8.self)
    }

    /// Heads marked in flight below `count`.
    func inflightHeads(below count: UInt16) -> [UInt16] { (0..<count).filter { inflight($0) != 0 } }
}
