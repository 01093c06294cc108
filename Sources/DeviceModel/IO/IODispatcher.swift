import Logging
import Synchronization

/// Routes ``IORequest``s from any backend to the handlers registered in its address spaces.
///
/// Defined results for accesses nobody claims: reads of unmapped addresses, or accesses
/// that straddle the end of a range, return all ones; such writes are dropped. Both are
/// counted (``unmappedAccesses``, ``straddlingAccesses``) and logged at debug level.
/// Every write (each element of a repeated one, as KVM does for string I/O) is first
/// offered to the software ioeventfd table; a matched write does not reach the handler.
public final class IODispatcher: Sendable {
    /// x86 port I/O ranges.
    public let ports = AddressSpace(space: .port)
    /// Guest-physical MMIO ranges.
    public let memory = AddressSpace(space: .memory)
    /// PCI configuration accesses by SBDF (`address = SBDF << 32 | register`).
    public let pciConfig = AddressSpace(space: .pciConfig)
    /// The ioeventfd fallback consulted for writes. Backends with kernel ioeventfds may still
    /// use it for matches their kernel refuses.
    public let softwareIOEvents = SoftwareIOEvents()

    private let unmapped = Atomic<UInt64>(0)
    private let straddling = Atomic<UInt64>(0)
    private let logger: Logger

    /// Creates a dispatcher with empty address spaces; unclaimed accesses are logged to
    /// `logger` at debug level.
    public init(logger: Logger = Logger(label: "swiftdm.io")) {
        self.logger = logger
    }

    /// The address space for `space`.
    public func addressSpace(_ space: IOSpace) -> AddressSpace {
        switch space {
        case .port: ports
        case .memory: memory
        case .pciConfig: pciConfig
        }
    }

    /// Number of accesses that hit no handler.
    public var unmappedAccesses: UInt64 { unmapped.load(ordering: .relaxed) }
    /// Number of accesses that crossed the end of a handler's range.
    public var straddlingAccesses: UInt64 { straddling.load(ordering: .relaxed) }

    /// Carries out `request`, filling in read results (the inline value, or the buffer).
    ///
    /// `guestMemory` resolves `.guestBuffer` data; it may be `nil` for backends that never
    /// produce such requests. Throws only when the request itself is malformed or its
    /// buffer is not guest RAM; both are detected before any element reaches a handler
    /// (unless the buffer's mapping fails midway, e.g. a Xen foreign map: elements already
    /// done then stay done, as on hardware).
    public func dispatch(_ request: inout IORequest, guestMemory: (any GuestMemory)? = nil) throws(IODispatchError) {
        let size = request.size
        guard size == 1 || size == 2 || size == 4 || size == 8 else { throw .invalidSize(size) }
        guard request.count >= 1 else { throw .invalidCount(request.count) }
        let step = Int64(size) * (request.decrementing ? -1 : 1)

        switch request.data {
        case .value(let v):
            var value = v
            for i in 0..<Int64(request.count) {
                let address = elementAddress(request, index: i, step: step)
                if request.direction == .read {
                    value = access(space: request.space, address: address, size: size, write: nil)
                } else {
                    _ = access(space: request.space, address: address, size: size, write: value)
                }
            }
            request.data = .value(value)

        case .guestBuffer(let gpa):
            guard let guestMemory else { throw .noGuestMemory }
            // Check the whole buffer before touching the device, so a bad buffer cannot
            // consume reads with side effects (FIFOs, read-to-clear registers).
            try Self.checkBuffer(gpa: gpa, size: size, count: request.count,
                                 decrementing: request.decrementing, in: guestMemory)
            for i in 0..<Int64(request.count) {
                let address = elementAddress(request, index: i, step: step)
                let bufferAddress = gpa &+ UInt64(bitPattern: i &* step)
                do {
                    if request.direction == .read {
                        let v = access(space: request.space, address: address, size: size, write: nil)
                        try Self.store(v, size: size, to: guestMemory, at: bufferAddress)
                    } else {
                        let v = try Self.load(size: size, from: guestMemory, at: bufferAddress)
                        _ = access(space: request.space, address: address, size: size, write: v)
                    }
                } catch {
                    throw .badBuffer(error)
                }
            }

        case .hostBuffer(let base):
            // Host buffers (KVM string I/O) are laid out ascending regardless of `df`.
            for i in 0..<Int(request.count) {
                let address = elementAddress(request, index: Int64(i), step: step)
                let p = base + i * size
                if request.direction == .read {
                    let v = access(space: request.space, address: address, size: size, write: nil)
                    Self.storeLE(v, size: size, to: p)
                } else {
                    _ = access(space: request.space, address: address, size: size, write: Self.loadLE(size: size, from: p))
                }
            }
        }
    }

    /// Verifies that the `count` elements of `size` bytes at `gpa` (stepping down when
    /// `decrementing`) are guest RAM, with overflow-checked arithmetic.
    private static func checkBuffer(
        gpa: UInt64, size: Int, count: UInt32, decrementing: Bool, in memory: any GuestMemory
    ) throws(IODispatchError) {
        // count <= 2^32 and size <= 8, so neither product overflows 64 bits.
        let total = UInt64(count) * UInt64(size)
        let span = UInt64(count - 1) * UInt64(size)
        let low: UInt64
        if decrementing {
            let (l, underflow) = gpa.subtractingReportingOverflow(span)
            guard !underflow else { throw .badBuffer(.overflow(gpa: gpa, length: Int(total))) }
            low = l
        } else {
            low = gpa
        }
        guard AddressRange(base: low, length: total) != nil else {
            throw .badBuffer(.overflow(gpa: low, length: Int(total)))
        }
        do {
            try memory.withSlices(at: low, length: Int(total)) { _ in }
        } catch {
            throw .badBuffer(error)
        }
    }

    private func elementAddress(_ request: IORequest, index: Int64, step: Int64) -> UInt64 {
        // Port and PCI-config reps hit the same register; MMIO reps walk memory.
        request.space == .memory ? request.address &+ UInt64(bitPattern: index &* step) : request.address
    }

    /// One access of `size` bytes; `write == nil` means read. Returns the read value.
    private func access(space: IOSpace, address: UInt64, size: Int, write: UInt64?) -> UInt64 {
        let mask = IORequest.mask(forSize: size)
        if let value = write, softwareIOEvents.signal(space: space, address: address, size: size, value: value) {
            return 0
        }
        let addressSpace = addressSpace(space)
        guard let entry = addressSpace.lookup(address) else {
            unmapped.add(1, ordering: .relaxed)
            logger.debug("unmapped \(space) \(write == nil ? "read" : "write") \(size)B at 0x\(String(address, radix: 16))")
            return mask
        }
        guard entry.range.contains(address, size: UInt64(size)) else {
            straddling.add(1, ordering: .relaxed)
            logger.debug("\(space) access \(size)B at 0x\(String(address, radix: 16)) straddles \(entry.name) \(entry.range)")
            return mask
        }
        let offset = address - entry.range.base
        if let value = write {
            entry.handler.write(at: offset, size: size, value: value & mask)
            return 0
        }
        return entry.handler.read(at: offset, size: size) & mask
    }

    private static func load(size: Int, from memory: any GuestMemory, at gpa: UInt64) throws(GuestMemoryError) -> UInt64 {
        switch size {
        case 1: UInt64(try memory.read(UInt8.self, at: gpa))
        case 2: UInt64(try memory.read(UInt16.self, at: gpa))
        case 4: UInt64(try memory.read(UInt32.self, at: gpa))
        default: try memory.read(UInt64.self, at: gpa)
        }
    }

    private static func store(_ v: UInt64, size: Int, to memory: any GuestMemory, at gpa: UInt64) throws(GuestMemoryError) {
        switch size {
        case 1: try memory.write(UInt8(truncatingIfNeeded: v), at: gpa)
        case 2: try memory.write(UInt16(truncatingIfNeeded: v), at: gpa)
        case 4: try memory.write(UInt32(truncatingIfNeeded: v), at: gpa)
        default: try memory.write(v, at: gpa)
        }
    }

    private static func loadLE(size: Int, from p: UnsafeMutableRawPointer) -> UInt64 {
        var v: UInt64 = 0
        withUnsafeMutableBytes(of: &v) { $0.baseAddress!.copyMemory(from: p, byteCount: size) }
        return UInt64(littleEndian: v)
    }

    private static func storeLE(_ value: UInt64, size: Int, to p: UnsafeMutableRawPointer) {
        var v = value.littleEndian
        withUnsafeBytes(of: &v) { p.copyMemory(from: $0.baseAddress!, byteCount: size) }
    }
}
