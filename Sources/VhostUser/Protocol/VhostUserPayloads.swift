/// `struct vhost_vring_state`: a ring index and a number (size, base, enable flag).
struct VringStatePayload: Equatable {
    static let size = 8
    var index: UInt32
    var num: UInt32

    init(index: UInt32, num: UInt32) {
        self.index = index
        self.num = num
    }

    init(_ payload: [UInt8]) {
        var r = PayloadReader(payload)
        index = r.u32()
        num = r.u32()
    }

    var encoded: [UInt8] {
        var w = PayloadWriter()
        w.u32(index)
        w.u32(num)
        return w.bytes
    }
}

/// `struct vhost_vring_addr`: where the frontend placed a ring, as addresses in the
/// frontend's own virtual address space (translated through the memory table).
/// Note the wire order: descriptor table, used ring, available ring, log.
struct VringAddressPayload: Equatable {
    static let size = 40
    /// `VHOST_VRING_F_LOG`: the `log` field is valid and used-ring writes must be logged.
    static let logFlag: UInt32 = 1

    var index: UInt32
    var flags: UInt32
    var descriptorTable: UInt64
    var usedRing: UInt64
    var availRing: UInt64
    var log: UInt64

    init(_ payload: [UInt8]) {
        var r = PayloadReader(payload)
        index = r.u32()
        flags = r.u32()
        descriptorTable = r.u64()
        usedRing = r.u64()
        availRing = r.u64()
        log = r.u64()
    }
}

/// The u64 payload of `SET_VRING_KICK/CALL/ERR`: ring index in bits 0–7, and bit 8 set
/// when no descriptor is attached.
struct VringFilePayload: Equatable {
    static let size = 8
    static let indexMask: UInt64 = 0xff
    static let noFDFlag: UInt64 = 1 << 8

    var index: UInt32
    var hasFD: Bool

    init(_ payload: [UInt8]) {
        var r = PayloadReader(payload)
        let v = r.u64()
        index = UInt32(v & Self.indexMask)
        hasFD = v & Self.noFDFlag == 0
    }
}

/// One entry of `SET_MEM_TABLE`.
struct MemoryRegionPayload: Equatable {
    static let size = 32
    var guestAddress: UInt64
    var size: UInt64
    /// Where the frontend mapped the region in its own address space.
    var userAddress: UInt64
    /// Offset of the region's start within the passed descriptor.
    var mmapOffset: UInt64
}

/// `SET_MEM_TABLE`'s payload: a count, padding, then up to eight regions.
struct MemoryTablePayload: Equatable {
    /// `VHOST_MEMORY_BASELINE_NREGIONS`: without `CONFIGURE_MEM_SLOTS`, at most 8 regions
    /// (which is also the most descriptors one message may carry).
    static let maxRegions = 8
    static let headerSize = 8
    static let maxSize = headerSize + maxRegions * MemoryRegionPayload.size

    var regions: [MemoryRegionPayload]

    /// Decodes and checks the count against the payload size. Frontends send either
    /// exactly `count` regions or a fixed-size array with trailing unused slots (UML).
    init(_ payload: [UInt8]) throws(VhostUserError) {
        guard payload.count >= Self.headerSize else {
            throw .badPayloadSize(request: "SET_MEM_TABLE", size: payload.count, expected: "at least \(Self.headerSize)")
        }
        var r = PayloadReader(payload)
        let count = Int(r.u32())
        _ = r.u32()
        guard (1...Self.maxRegions).contains(count) else { throw .invalidRegionCount(count, maximum: Self.maxRegions) }
        let needed = Self.headerSize + count * MemoryRegionPayload.size
        guard payload.count >= needed else {
            throw .badPayloadSize(request: "SET_MEM_TABLE", size: payload.count, expected: "\(needed) for \(count) regions")
        }
        regions = (0..<count).map { _ in
            MemoryRegionPayload(guestAddress: r.u64(), size: r.u64(), userAddress: r.u64(), mmapOffset: r.u64())
        }
    }
}

/// `GET_CONFIG`/`SET_CONFIG`: offset, size, flags, then `size` bytes of configuration space.
struct DeviceConfigPayload: Equatable {
    static let headerSize = 12
    /// The configuration window is at most 256 bytes (`VHOST_USER_MAX_CONFIG_SIZE`).
    static let maxConfigSize = 256
    static let maxSize = headerSize + maxConfigSize

    var offset: UInt32
    var size: UInt32
    var flags: UInt32
    var data: [UInt8]

    init(offset: UInt32, size: UInt32, flags: UInt32, data: [UInt8]) {
        self.offset = offset
        self.size = size
        self.flags = flags
        self.data = data
    }

    init(_ payload: [UInt8], request: String) throws(VhostUserError) {
        guard payload.count >= Self.headerSize else {
            throw .badPayloadSize(request: request, size: payload.count, expected: "at least \(Self.headerSize)")
        }
        var r = PayloadReader(payload)
        offset = r.u32()
        size = r.u32()
        flags = r.u32()
        guard UInt64(offset) + UInt64(size) <= UInt64(Self.maxConfigSize) else {
            throw .configOutOfRange(offset: offset, size: size)
        }
        guard payload.count == Self.headerSize + Int(size) else {
            throw .badPayloadSize(request: request, size: payload.count, expected: "\(Self.headerSize + Int(size)) (12 + config size \(size))")
        }
        data = r.bytes(Int(size))
    }

    var encoded: [UInt8] {
        var w = PayloadWriter()
        w.u32(offset)
        w.u32(size)
        w.u32(flags)
        w.raw(data)
        return w.bytes
    }
}
