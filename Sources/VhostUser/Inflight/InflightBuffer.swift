import CDeviceModelShims
import DeviceModel
#if canImport(Glibc)
import Glibc
#endif

/// The inflight-tracking buffer of `VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD` (vhost-user.rst
/// "Inflight I/O tracking"): shared memory the backend creates (`GET_INFLIGHT_FD`), the
/// frontend keeps across backend restarts and hands back (`SET_INFLIGHT_FD`), and in which the
/// backend records every head it took from a ring and has not yet returned.
///
/// Split-ring layout, as QEMU's libvhost-user and SPDK lay it out: one region per queue, each
/// ``queueRegionSize(queueSize:)`` bytes, holding a 16-byte header (`features` u64, `version`
/// u16, `desc_num` u16, `last_batch_head` u16, `used_idx` u16) and then one 16-byte entry per
/// descriptor (`inflight` u8, 5 bytes padding, `next` u16, `counter` u64).
///
/// The frontend can write this memory at any time, so nothing read from it is trusted beyond
/// bounds-checked indices; it is reached through ``MappedGuestMemory``'s checked accessors,
/// which also survive the frontend truncating the file (the SIGBUS guard).
final class InflightBuffer: Sendable {
    static let headerSize: UInt64 = 16
    static let entrySize: UInt64 = 16
    /// Each queue region starts on a 64-byte boundary.
    static let alignment: UInt64 = 64
    /// The largest split ring (virtio 1.2 §2.7).
    static let maxQueueSize: UInt16 = 32768

    /// Bytes one queue region takes: libvhost-user's `ALIGN_UP(16 * n + 2, 64)`, which always
    /// leaves room for the 16-byte header (16·n is a multiple of 16, so rounding 16·n + 2 up
    /// to 64 adds at least 16).
    static func queueRegionSize(queueSize: UInt16) -> UInt64 {
        (entrySize * UInt64(queueSize) + 2 + alignment - 1) / alignment * alignment
    }

    /// Checks a frontend's description of the buffer: 1...`deviceQueues` queues of a
    /// power-of-two size.
    static func checkShape(_ d: InflightPayload, deviceQueues: Int, request: String) throws(VhostUserError) {
        guard d.queueCount >= 1, Int(d.queueCount) <= deviceQueues,
              d.queueSize >= 1, d.queueSize <= maxQueueSize, d.queueSize & (d.queueSize - 1) == 0 else {
            throw .invalidInflightShape(request: request, queues: d.queueCount, queueSize: d.queueSize, deviceQueues: deviceQueues)
        }
    }

    /// `GET_INFLIGHT_FD`: a new zeroed buffer for `d`'s queues, as a memfd sealed against
    /// growing and shrinking (so this backend, and the next one, can always map all of it).
    /// Returns the descriptor (the caller sends and closes it) and the reply.
    static func create(for d: InflightPayload, deviceQueues: Int) throws(VhostUserError) -> (fd: Int32, reply: InflightPayload) {
        try checkShape(d, deviceQueues: deviceQueues, request: "GET_INFLIGHT_FD")
        let size = queueRegionSize(queueSize: d.queueSize) * UInt64(d.queueCount)
        let fd = swiftdm_memfd_sealed("vhost-user-inflight", Int64(size))
        guard fd >= 0 else { throw .system(call: "memfd_create(inflight buffer)", errno: -fd) }
        return (fd, InflightPayload(mmapSize: size, mmapOffset: 0, queueCount: d.queueCount, queueSize: d.queueSize))
    }

    /// Queues laid out in the buffer.
    let queueCount: Int
    /// Descriptor entries per queue (the largest ring the buffer can track).
    let queueSize: UInt16
    /// The buffer, addressed from 0.
    let memory: MappedGuestMemory

    /// `SET_INFLIGHT_FD`: checks `d` and the descriptor (a regular file or memfd, long enough
    /// for the layout) and maps the buffer. The descriptor stays with the caller.
    init(_ d: InflightPayload, descriptor: ReceivedDescriptor, deviceQueues: Int) throws(VhostUserError) {
        try Self.checkShape(d, deviceQueues: deviceQueues, request: "SET_INFLIGHT_FD")
        try descriptor.checkMemoryFile(for: "SET_INFLIGHT_FD")
        let needed = Self.queueRegionSize(queueSize: d.queueSize) * UInt64(d.queueCount)
        var st = stat()
        guard fstat(descriptor.raw, &st) == 0 else { throw .system(call: "fstat(inflight buffer)", errno: errno) }
        let (end, overflow) = d.mmapOffset.addingReportingOverflow(needed)
        // Touching a shared mapping past the end of its file raises SIGBUS: refuse it now.
        guard d.mmapSize >= needed, !overflow, end <= UInt64(max(0, st.st_size)) else {
            throw .inflightBufferTooSmall(size: d.mmapSize, offset: d.mmapOffset, needed: needed, fileSize: Int64(st.st_size))
        }
        let page = UInt64(sysconf(Int32(_SC_PAGESIZE)))
        let aligned = d.mmapOffset & ~(page - 1)
        let delta = d.mmapOffset - aligned
        let length = Int(needed + delta)
        let p = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor.raw, off_t(aligned))
        guard let p, p != MAP_FAILED else { throw .system(call: "mmap(inflight buffer, \(length) bytes)", errno: errno) }
        let address = UInt(bitPattern: p)
        do {
            memory = try MappedGuestMemory(regions: [GuestMemoryRegion(guestBase: 0, length: needed, host: p + Int(delta))]) {
                munmap(UnsafeMutableRawPointer(bitPattern: address), length)
            }
        } catch {
            // Unreachable for one non-empty region, but never leak the mapping.
            munmap(p, length)
            throw .system(call: "map inflight buffer: \(error)", errno: 0)
        }
        queueCount = Int(d.queueCount)
        queueSize = d.queueSize
    }

    /// The log for ring `index` of `ringSize` entries, or `nil` when the buffer cannot track
    /// that ring: it has no region for it, or fewer entries than the ring has heads (QEMU
    /// sizes the buffer by its `queue-size`, but on virtio-mmio the guest may pick a larger
    /// ring). Such a ring is served untracked.
    func log(ring index: Int, ringSize: UInt16) -> InflightQueueLog? {
        guard index < queueCount, ringSize <= queueSize else { return nil }
        return InflightQueueLog(buffer: self, base: UInt64(index) * Self.queueRegionSize(queueSize: queueSize))
    }
}
