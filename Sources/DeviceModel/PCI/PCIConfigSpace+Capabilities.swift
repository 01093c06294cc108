extension PCIConfigSpace {
    /// Appends a capability to the capability list (PCI Local Bus 3.0 §6.7).
    ///
    /// Lays out `id`, a next pointer (0: end of list) and `body`, dword-aligned after the
    /// previous capability (the first goes at 0x40), links it from the previous capability or
    /// the capabilities pointer (0x34), and sets status bit 4 (capabilities list).
    ///
    /// - Parameters:
    ///   - id: the capability ID (0x05 MSI, 0x09 vendor-specific, 0x10 PCI Express, 0x11 MSI-X).
    ///   - body: the bytes after the ID and next pointer.
    ///   - writableMask: guest-writable bits for each byte of `body`; all read-only if `nil`.
    /// - Returns: the capability's offset in configuration space.
    @discardableResult
    public func addCapability(id: UInt8, body: [UInt8], writableMask: [UInt8]? = nil) throws(PCIError) -> Int {
        if let writableMask, writableMask.count != body.count {
            throw .capabilityMaskMismatch(bodyLength: body.count, maskLength: writableMask.count)
        }
        let length = 2 + body.count
        return try state.withLock { (s: inout State) throws(PCIError) -> Int in
            let offset = s.nextCapability
            guard offset + length <= Self.conventionalSize else { throw .capabilitySpaceExhausted(needed: length) }
            s.bytes[offset] = id
            s.bytes[offset + 1] = 0
            for (i, b) in body.enumerated() {
                s.bytes[offset + 2 + i] = b
                s.writable[offset + 2 + i] = writableMask?[i] ?? 0
            }
            if let previous = s.lastCapability {
                s.bytes[previous + 1] = UInt8(offset)
            } else {
                s.bytes[PCIRegister.capabilitiesPointer] = UInt8(offset)
            }
            s.bytes[PCIRegister.status] |= UInt8(PCIStatus.capabilitiesList.rawValue)
            s.lastCapability = offset
            s.nextCapability = (offset + length + 3) & ~3
            return offset
        }
    }

    /// Appends a PCI Express extended capability (PCI Express Base 4.0 §7.6.3): a header dword
    /// (16-bit ID, 4-bit version, 12-bit next offset) followed by `body`, the first at 0x100.
    ///
    /// Requires a 4 KiB configuration space (`extended: true`).
    /// - Returns: the capability's offset.
    @discardableResult
    public func addExtendedCapability(
        id: UInt16, version: UInt8, body: [UInt8], writableMask: [UInt8]? = nil
    ) throws(PCIError) -> Int {
        guard size == Self.extendedSize else { throw .extendedCapabilitiesUnavailable }
        if let writableMask, writableMask.count != body.count {
            throw .capabilityMaskMismatch(bodyLength: body.count, maskLength: writableMask.count)
        }
        let length = 4 + body.count
        return try state.withLock { (s: inout State) throws(PCIError) -> Int in
            let offset = s.nextExtendedCapability
            guard offset + length <= Self.extendedSize else { throw .capabilitySpaceExhausted(needed: length) }
            s.put(UInt32(id) | UInt32(version & 0xF) << 16, at: offset, size: 4)
            for (i, b) in body.enumerated() {
                s.bytes[offset + 4 + i] = b
                s.writable[offset + 4 + i] = writableMask?[i] ?? 0
            }
            if let previous = s.lastExtendedCapability {
                let header = s.get(at: previous, size: 4) & 0x000F_FFFF
                s.put(header | UInt32(offset) << 20, at: previous, size: 4)
            }
            s.lastExtendedCapability = offset
            s.nextExtendedCapability = (offset + length + 3) & ~3
            return offset
        }
    }

    /// The capability list as a driver walks it: (ID, offset) pairs in list order.
    ///
    /// The walk masks the reserved low pointer bits and stops at 48 entries (the most that
    /// fit in 192 bytes), as Linux's `pci_find_capability` does, so it always terminates.
    public func capabilities() -> [(id: UInt8, offset: Int)] {
        state.withLock { s in
            guard s.bytes[PCIRegister.status] & UInt8(PCIStatus.capabilitiesList.rawValue) != 0 else { return [] }
            var result: [(id: UInt8, offset: Int)] = []
            var pointer = Int(s.bytes[PCIRegister.capabilitiesPointer] & 0xFC)
            while pointer >= PCIRegister.firstCapability, result.count < 48 {
                result.append((s.bytes[pointer], pointer))
                pointer = Int(s.bytes[pointer + 1] & 0xFC)
            }
            return result
        }
    }

    /// The offset of the first capability with `id`, if any.
    public func findCapability(_ id: UInt8) -> Int? {
        capabilities().first { $0.id == id }?.offset
    }
}
