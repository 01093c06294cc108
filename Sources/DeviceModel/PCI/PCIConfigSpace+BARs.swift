extension PCIConfigSpace {
    /// Defines BAR `index` (0–5; 0–4 for a 64-bit BAR, which also takes `index + 1`).
    ///
    /// The register gets the kind's read-only type bits and a write mask covering only the
    /// address bits at or above the size, which is what makes the sizing protocol work
    /// (PCI Local Bus 3.0 §6.2.5.1). The address starts at zero (unassigned).
    public func addBAR(_ bar: PCIBAR, at index: Int) throws(PCIError) {
        let last = bar.kind.is64Bit ? 4 : 5
        guard (0...last).contains(index) else { throw .invalidBARIndex(index) }
        try state.withLock { (s: inout State) throws(PCIError) in
            guard s.bars[index] == .empty else { throw .barInUse(index) }
            if bar.kind.is64Bit, s.bars[index + 1] != .empty { throw .barInUse(index + 1) }
            let offset = PCIRegister.bar0 + 4 * index
            s.bars[index] = .defined(bar)
            s.put(bar.kind.typeBits, at: offset, size: 4)
            State.setMask(&s.writable, bar.lowWritableMask, at: offset, size: 4)
            if bar.kind.is64Bit {
                s.bars[index + 1] = .upperHalf
                s.put(0, at: offset + 4, size: 4)
                State.setMask(&s.writable, bar.highWritableMask, at: offset + 4, size: 4)
            }
        }
    }

    /// The definition of BAR `index`, or `nil` (also for the upper half of a 64-bit BAR).
    public func bar(_ index: Int) -> PCIBAR? {
        guard (0..<6).contains(index) else { return nil }
        return state.withLock { s in
            if case .defined(let b) = s.bars[index] { return b }
            return nil
        }
    }

    /// All defined BARs by index.
    public var bars: [(index: Int, bar: PCIBAR)] {
        state.withLock { s in
            s.bars.enumerated().compactMap { i, slot in
                if case .defined(let b) = slot { return (i, b) }
                return nil
            }
        }
    }

    /// The address the guest programmed into BAR `index` (type bits stripped), whether or not
    /// decoding is enabled; `nil` when the BAR is not defined.
    public func barAddress(_ index: Int) -> UInt64? {
        guard (0..<6).contains(index) else { return nil }
        return state.withLock { s in
            guard case .defined(let b) = s.bars[index] else { return nil }
            return s.barAddress(index, b)
        }
    }

    /// The BARs the function decodes right now: those whose space is enabled in the command
    /// register (bit 0 for I/O, bit 1 for memory, §6.2.2) and whose address is assigned.
    ///
    /// Address zero counts as unassigned; I/O BARs must lie below 64 KiB; 64-bit BARs must
    /// not wrap. Everything else is decoded, even an address left over from sizing: if it
    /// collides with another range, the bus refuses to map it.
    public func decodedBARs() -> [PCIBARMapping] {
        state.withLock { s in
            let command = PCICommand(rawValue: UInt16(truncatingIfNeeded: s.get(at: PCIRegister.command, size: 2)))
            var result: [PCIBARMapping] = []
            for (i, slot) in s.bars.enumerated() {
                guard case .defined(let b) = slot else { continue }
                let enabled = b.kind == .io ? command.contains(.ioSpace) : command.contains(.memorySpace)
                let base = s.barAddress(i, b)
                guard enabled, base != 0, let range = AddressRange(base: base, length: b.size) else { continue }
                if b.kind == .io, range.last > 0xFFFF { continue }
                result.append(PCIBARMapping(bar: i, space: b.kind.space, range: range))
            }
            return result
        }
    }
}

extension PCIConfigSpace.State {
    func barAddress(_ index: Int, _ bar: PCIBAR) -> UInt64 {
        let offset = PCIRegister.bar0 + 4 * index
        let low = UInt64(get(at: offset, size: 4)) & ~UInt64(bar.kind == .io ? 0x3 : 0xF)
        guard bar.kind.is64Bit else { return low }
        return UInt64(get(at: offset + 4, size: 4)) << 32 | low
    }
}
