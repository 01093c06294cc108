import DeviceModel
#if canImport(Glibc)
import Glibc
#endif

extension KVMVirtualMachine {
    /// Allocates anonymous RAM for `layout` and registers one memory slot per range.
    ///
    /// The result is the core's ``DeviceModel/MappedGuestMemory``: devices reach RAM through
    /// it and never through KVM. The mapping lives as long as the returned object; keep it
    /// alive while the VM runs (the kernel holds no reference to it).
    public func mapRAM(_ layout: GuestRAMLayout) throws(KVMError) -> MappedGuestMemory {
        let memory: MappedGuestMemory
        do {
            memory = try MappedGuestMemory.anonymous(layout.ranges.map { (guestBase: $0.base, length: $0.length) })
        } catch let e as GuestMemoryError {
            if case .mappingFailed(_, let errno) = e { throw .mmapFailed("guest RAM (\(layout.size) bytes)", errno: errno) }
            throw .invalidMemoryLayout("\(e)")
        } catch {
            throw .invalidMemoryLayout("\(error)")
        }
        for region in memory.regions {
            try setMemorySlot(try allocateSlot(), guestBase: region.guestBase, length: region.length, host: region.host)
        }
        return memory
    }

    /// Registers RAM allocated elsewhere as memory slots, one per region — e.g. memfd-backed
    /// RAM that a simulated Xen maps a second time for its foreign mappings. `memory` must
    /// outlive the VM's use of it.
    public func mapRAM(_ memory: MappedGuestMemory) throws(KVMError) {
        for region in memory.regions {
            try setMemorySlot(try allocateSlot(), guestBase: region.guestBase, length: region.length, host: region.host)
        }
    }

    /// Maps `bytes` read-only at `guestBase` (a ROM) in a slot of its own, padded at the front to
    /// whole pages so that the image ends exactly at `guestBase + bytes.count`.
    ///
    /// Guest writes to the ROM exit as MMIO (and are dropped when nothing claims them). Without
    /// `KVM_CAP_READONLY_MEM` the slot is writable RAM. Returns the mapping's owner, which must
    /// outlive the VM's use of the ROM.
    public func mapROM(_ bytes: [UInt8], endingAt end: UInt64) throws(KVMError) -> ROMMapping {
        guard !bytes.isEmpty else { throw .invalidMemoryLayout("empty ROM image") }
        let page: UInt64 = 4096
        let length = (UInt64(bytes.count) + page - 1) / page * page
        guard end % page == 0, end >= length else {
            throw .invalidMemoryLayout("ROM of \(bytes.count) bytes cannot end at 0x\(String(end, radix: 16))")
        }
        let base = end - length
        let p = mmap(nil, Int(length), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let p, p != MAP_FAILED else { throw .mmapFailed("ROM (\(length) bytes)", errno: errno) }
        let padding = Int(length) - bytes.count
        bytes.withUnsafeBytes { (p + padding).copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        let mapping = ROMMapping(guestBase: base, length: length, host: p)
        try setMemorySlot(try allocateSlot(), guestBase: base, length: length, host: p, readOnly: system.supports(.readonlyMemory))
        return mapping
    }
}

/// Host memory backing a ROM slot; unmapped when released.
public final class ROMMapping: @unchecked Sendable {
    // SAFETY (@unchecked): immutable after init; the bytes are only read by the guest.
    public let guestBase: UInt64
    public let length: UInt64
    let host: UnsafeMutableRawPointer

    init(guestBase: UInt64, length: UInt64, host: UnsafeMutableRawPointer) {
        self.guestBase = guestBase
        self.length = length
        self.host = host
    }

    deinit { munmap(host, Int(length)) }
}
