import DeviceModel
import Synchronization

/// A block of guest RAM handed out by a ``GuestAllocator``.
public struct GuestAllocation: Sendable, Hashable, CustomStringConvertible {
    /// Guest-physical address of the first byte.
    public let address: UInt64
    /// Length in bytes (positive).
    public let length: Int

    /// Guest-physical address just past the last byte (0 for a block ending at 2^64).
    public var end: UInt64 { address &+ UInt64(length) }

    /// The address `offset` bytes into the block.
    public func address(at offset: Int) -> UInt64 { address + UInt64(offset) }

    public var description: String {
        "0x\(String(address, radix: 16))+0x\(String(length, radix: 16))"
    }
}

/// A bump allocator over a range of guest RAM, so a test lays out buffers, descriptor
/// tables and rings the way a guest driver does (at guest-physical addresses the device
/// then reads through ``GuestMemory``).
///
/// Allocations are zero-filled, never overlap and are only reclaimed all at once by
/// ``reset()``. Thread-safe.
public final class GuestAllocator: Sendable {
    /// The RAM allocations come from.
    public let memory: any GuestMemory
    /// The range this allocator hands out, `[base, base + length)`.
    public let range: AddressRange
    // Next free address; `range.last + 1` (or 0 after wrapping at 2^64) when full.
    private let cursor: Mutex<UInt64>
    // Bytes handed out so far, including alignment padding.
    private let usedBytes = Atomic<UInt64>(0)

    /// Allocates from `[base, base + length)`, which must be guest RAM in `memory`.
    public init(memory: any GuestMemory, base: UInt64, length: UInt64) throws(SimulationError) {
        guard let range = AddressRange(base: base, length: length), length <= UInt64(Int.max),
              memory.contains(base, length: Int(length))
        else { throw .allocatorRangeNotRAM(base: base, length: length) }
        self.memory = memory
        self.range = range
        self.cursor = Mutex(base)
    }

    /// Bytes handed out so far, including alignment padding.
    public var used: UInt64 { usedBytes.load(ordering: .relaxed) }

    /// Bytes not yet handed out (an aligned request may fit fewer).
    public var available: UInt64 { range.length - used }

    /// Returns `length` zeroed bytes aligned to `alignment` (a power of two).
    public func allocate(_ length: Int, alignment: UInt64 = 16) throws(SimulationError) -> GuestAllocation {
        guard length > 0 else { throw .invalidAllocationLength(length) }
        guard alignment > 0, alignment & (alignment - 1) == 0 else { throw .invalidAlignment(alignment) }
        let block: GuestAllocation? = cursor.withLock { next in
            // All arithmetic checked: a range may end at 2^64.
            let rounded = next.addingReportingOverflow(alignment - 1)
            guard !rounded.overflow else { return nil }
            let start = rounded.partialValue & ~(alignment - 1)
            guard start >= next, range.contains(start, size: UInt64(length)) else { return nil }
            let end = start &+ UInt64(length)  // 0 when the block ends exactly at 2^64
            usedBytes.add(end &- next, ordering: .relaxed)
            next = end
            return GuestAllocation(address: start, length: length)
        }
        guard let block else {
            throw .allocatorExhausted(requested: length, alignment: alignment, available: available)
        }
        do {
            try memory.fill(0, at: block.address, length: length)
        } catch {
            throw .guestMemory(error)
        }
        return block
    }

    /// Allocates a block holding a copy of `bytes`.
    public func allocate<C: Collection>(copying bytes: C, alignment: UInt64 = 16) throws(SimulationError) -> GuestAllocation
    where C.Element == UInt8 {
        let block = try allocate(bytes.count, alignment: alignment)
        do {
            try memory.writeBytes(bytes, at: block.address)
        } catch {
            throw .guestMemory(error)
        }
        return block
    }

    /// Forgets every allocation; the whole range is available again.
    public func reset() {
        cursor.withLock { next in
            next = range.base
            usedBytes.store(0, ordering: .relaxed)
        }
    }
}
