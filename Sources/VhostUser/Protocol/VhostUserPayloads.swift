/// `struct vhost_vring_state`: a ring index and a number (size, base, enable flag).
/// Public so a frontend (the `StorageBench` load generator) encodes the same layout the
/// backend decodes.
public struct VringStatePayload: Equatable, Sendable {
    /// Wire size.
    public static let size = 8
    /// The ring.
    public var index: UInt32
    /// Its size, base index or enable flag, depending on the request.
    public var num: UInt32

    /// A state for ring `index`.
    public init(index: UInt32, num: UInt32) {
        self.index = index
        self.num = num
    }

    init(_ payload: [UInt8]) {
        var r = PayloadReader(payload)
        index = r.u32()
        num = r.u32()
    }

    /// The wire form.
    public var encoded: [UInt8] {
        var w = PayloadWriter()
        w.u32(index)
        w.u32(num)
        return w.bytes
    }
}

/// `struct vhost_vring_addr`: where the frontend placed a ring, as addresses in the
/// frontend's own virtual address space (translated through the memory table).
/// Note the wire order: descriptor table, used ring, available ring, log.
public struct VringAddressPayload: Equatable, Sendable {
    /// Wire size.
    public static let size = 40
    /// `VHOST_VRING_F_LOG`: the `log` field is valid and used-ring writes must be logged.
    public static let logFlag: UInt32 = 1

    /// The ring.
    public var index: UInt32
    /// ``logFlag`` or 0.
    public var flags: UInt32
    /// Frontend-virtual addresses of the descriptor table, used ring and available ring.
    public var descriptorTable: UInt64
    public var usedRing: UInt64
    public var availRing: UInt64
    /// Guest address of the used-ring log (with ``logFlag``).
    public var log: UInt64

    /// Ring `index` at the given frontend-virtual addresses, without logging.
    public init(index: UInt32, descriptorTable: UInt64, usedRing: UInt64, availRing: UInt64) {
        self.index = index
        flags = 0
        self.descriptorTable = descriptorTable
        self.usedRing = usedRing
        self.availRing = availRing
        log = 0
    }

    /// The wire form (descriptor table, used, avail, log — the C struct's order).
    public var encoded: [UInt8] {
        var w = PayloadWriter()
        w.u32(index)
        w.u32(flags)
        w.u64(descriptorTable)
        w.u64(usedRing)
        w.u64(availRing)
        w.u64(log)
        return w.bytes
    }

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
public struct VringFilePayload: Equatable, Sendable {
    /// Wire size.
    public static let size = 8
    static let indexMask: UInt64 = 0xff
    static let noFDFlag: UInt64 = 1 << 8

    /// The ring.
    public var index: UInt32
    /// False when the message carries no descriptor (the no-FD flag is set).
    public var hasFD: Bool

    /// Ring `index`, with or without a descriptor attached.
    public init(index: UInt32, hasFD: Bool) {
        self.index = index
        self.hasFD = hasFD
    }

    /// The wire form.
    public var encoded: [UInt8] {
        var w = PayloadWriter()
        w.u64(UInt64(index) & Self.indexMask | (hasFD ? 0 : Self.noFDFlag))
        return w.bytes
    }

    init(_ payload: [UInt8]) {
        var r = PayloadReader(payload)
        let v = r.u64()
        index = UInt32(v & Self.indexMask)
        hasFD = v & Self.noFDFlag == 0
    }
}

/// One entry of `SET_MEM_TABLE`.
public struct MemoryRegionPayload: Equatable, Sendable {
    /// Wire size.
    public static let size = 32
    /// Where the region starts in guest-physical space.
    public var guestAddress: UInt64
    /// Its length in bytes.
    public var size: UInt64
    /// Where the frontend mapped the region in its own address space.
    public var userAddress: UInt64
    /// Offset of the region's start within the passed descriptor.
    public var mmapOffset: UInt64

    /// A region of `size` bytes at `guestAddress`, mapped by the frontend at `userAddress`.
    public init(guestAddress: UInt64, size: UInt64, userAddress: UInt64, mmapOffset: UInt64) {
        self.guestAddress = guestAddress
        self.size = size
        self.userAddress = userAddress
        self.mmapOffset = mmapOffset
    }
}

/// `SET_MEM_TABLE`'s payload: a count, padding, then up to eight regions.
public struct MemoryTablePayload: Equatable, Sendable {
    /// `VHOST_MEMORY_BASELINE_NREGIONS`: without `CONFIGURE_MEM_SLOTS`, at most 8 regions
    /// (which is also the most descriptors one message may carry).
    static let maxRegions = 8
    static let headerSize = 8
    static let maxSize = headerSize + maxRegions * MemoryRegionPayload.size

    /// The regions, each backed by the descriptor sent in the same position.
    public var regions: [MemoryRegionPayload]

    /// A table of `regions` (one descriptor per region travels with the message).
    public init(regions: [MemoryRegionPayload]) { self.regions = regions }

    /// The wire form: count, padding, then exactly `regions.count` entries.
    public var encoded: [UInt8] {
        var w = PayloadWriter()
        w.u32(UInt32(truncatingIfNeeded: regions.count))
        w.u32(0)
        for r in regions {
            w.u64(r.guestAddress)
            w.u64(r.size)
            w.u64(r.userAddress)
            w.u64(r.mmapOffset)
        }
        return w.bytes
    }

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
public struct DeviceConfigPayload: Equatable, Sendable {
    static let headerSize = 12
    /// The configuration window is at most 256 bytes (`VHOST_USER_MAX_CONFIG_SIZE`).
    public static let maxConfigSize = 256
    static let maxSize = headerSize + maxConfigSize

    /// The window: `size` bytes at `offset` of the device's configuration space.
    public var offset: UInt32
    public var size: UInt32
    /// `VHOST_SET_CONFIG_TYPE_*` (0 for the frontend's own accesses).
    public var flags: UInt32
    /// The bytes (zeros in a `GET_CONFIG` request).
    public var data: [UInt8]

    /// A window of `size` configuration bytes at `offset` (a `GET_CONFIG` request carries
    /// `size` zero bytes, which the reply fills in).
    public init(offset: UInt32, size: UInt32, flags: UInt32, data: [UInt8]) {
        self.offset = offset
        self.size = size
        self.flags = flags
        self.data = data
    }

    /// Decodes a `GET_CONFIG`/`SET_CONFIG` payload (a request, or a backend's reply), checking
    /// the window against the 256-byte limit and the payload size against the window.
    public init(_ payload: [UInt8], request: String) throws(VhostUserError) {
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

    /// The wire form.
    public var encoded: [UInt8] {
        var w = PayloadWriter()
        w.u32(offset)
        w.u32(size)
        w.u32(flags)
        w.raw(data)
        return w.bytes
    }
}

/// `GET_INFLIGHT_FD`/`SET_INFLIGHT_FD` (`VhostUserInflight`): the size and file offset of the
/// inflight-tracking buffer, and the queue count and size it is laid out for. The C struct
/// is not packed, so four bytes of padding follow the two u16s.
struct InflightPayload: Equatable {
    static let size = 24
    var mmapSize: UInt64
    var mmapOffset: UInt64
    var queueCount: UInt16
    var queueSize: UInt16

    init(mmapSize: UInt64, mmapOffset: UInt64, queueCount: UInt16, queueSize: UInt16) {
        self.mmapSize = mmapSize
        self.mmapOffset = mmapOffset
        self.queueCount = queueCount
        self.queueSize = queueSize
    }

    init(_ payload: [UInt8]) {
        var r = PayloadReader(payload)
        mmapSize = r.u64()
        mmapOffset = r.u64()
        let counts = r.u32()
        queueCount = UInt16(truncatingIfNeeded: counts)
        queueSize = UInt16(truncatingIfNeeded: counts >> 16)
    }

    var encoded: [UInt8] {
        var w = PayloadWriter()
        w.u64(mmapSize)
        w.u64(mmapOffset)
        w.u32(UInt32(queueCount) | UInt32(queueSize) << 16)
        w.u32(0)
        return w.bytes
    }
}
