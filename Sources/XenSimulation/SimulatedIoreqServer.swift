import CDeviceModelShims
import CXen
import DeviceModel
import Synchronization
import XenGlue
#if canImport(Glibc)
import Glibc
#endif

/// The hypervisor's side of one ioreq server: its two pages (a memfd, so the device
/// model's `map_resource` maps the very same frames), its Xen-side event channels and
/// its claimed ranges.
final class SimulatedIoreqServer: @unchecked Sendable {
    // SAFETY (@unchecked): `enabled` and `ranges` are only touched with the owning
    // `SimulatedXen`'s state lock held; the pages are shared memory driven by the ioreq
    // protocol (each vCPU slot by its own vCPU thread, the ring under `bufferedLock`).
    let id: IoreqServerID
    let handling: BufferedIoreqHandling
    let pagesFD: Int32
    /// Xen's own mapping of the two frames: buffered page, then the shared page.
    let pages: UnsafeMutableRawPointer
    /// Xen-side port of each vCPU (what the slot's `vp_eport` says).
    let vcpuPorts: [XenEventChannelPort]
    /// What each vCPU waits on (its port's notifier), kept for vCPUs still waiting after the
    /// server is gone.
    let wakes: [EventNotifier?]
    let bufferedPort: XenEventChannelPort
    var enabled = false
    var ranges: [XenIORangeKind: [ClosedRange<UInt64>]] = [.port: [], .memory: [], .pci: []]
    /// Xen's `bufioreq_lock`: one producer at a time.
    let bufferedLock = Mutex<Void>(())

    init(id: IoreqServerID, handling: BufferedIoreqHandling, vcpuPorts: [XenEventChannelPort], wakes: [EventNotifier?],
         bufferedPort: XenEventChannelPort) throws(XenError) {
        let fd = swiftdm_memfd("swiftdm-xen-sim-ioreq")
        guard fd >= 0 else { throw .callFailed(function: "memfd_create", domid: nil, errno: errno) }
        let size = 2 * Int(SWIFTDM_XEN_PAGE_SIZE)
        guard ftruncate(fd, off_t(size)) == 0 else {
            let e = errno
            close(fd)
            throw .callFailed(function: "ftruncate", domid: nil, errno: e)
        }
        guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            let e = errno
            close(fd)
            throw .callFailed(function: "mmap", domid: nil, errno: e)
        }
        self.id = id
        self.handling = handling
        self.pagesFD = fd
        self.pages = p
        self.vcpuPorts = vcpuPorts
        self.wakes = wakes
        self.bufferedPort = bufferedPort
    }

    deinit {
        munmap(pages, 2 * Int(SWIFTDM_XEN_PAGE_SIZE))
        close(pagesFD)
    }

    var bufferedPage: UnsafeMutablePointer<buffered_iopage_t> {
        pages.assumingMemoryBound(to: buffered_iopage_t.self)
    }

    func slot(_ vcpu: Int) -> UnsafeMutablePointer<ioreq_t> {
        swiftdm_ioreq_slot(pages + Int(SWIFTDM_XEN_PAGE_SIZE), UInt32(vcpu))
    }

    /// Xen's `hvm_update_ioreq_evtchn`: publish each vCPU's port in its slot.
    func publishEventPorts() {
        for (vcpu, port) in vcpuPorts.enumerated() { slot(vcpu).pointee.vp_eport = port }
    }

    func contains(_ kind: XenIORangeKind, first: UInt64, last: UInt64) -> Bool {
        ranges[kind, default: []].contains { $0.lowerBound <= first && last <= $0.upperBound }
    }

    /// `rangeset_add_range` after Xen's overlap check (-EEXIST).
    func add(_ kind: XenIORangeKind, first: UInt64, last: UInt64) -> Int32 {
        guard first <= last else { return EINVAL }
        if ranges[kind, default: []].contains(where: { $0.overlaps(first...last) }) { return EEXIST }
        ranges[kind, default: []].append(first...last)
        return 0
    }

    /// `rangeset_remove_range` after Xen's containment check (-ENOENT).
    func remove(_ kind: XenIORangeKind, first: UInt64, last: UInt64) -> Int32 {
        guard first <= last else { return EINVAL }
        guard let i = ranges[kind, default: []].firstIndex(where: { $0.lowerBound <= first && last <= $0.upperBound }) else {
            return ENOENT
        }
        let r = ranges[kind]![i]
        ranges[kind]!.remove(at: i)
        if r.lowerBound < first { ranges[kind]!.append(r.lowerBound...(first - 1)) }
        if last < r.upperBound { ranges[kind]!.append((last + 1)...r.upperBound) }
        return 0
    }
}
