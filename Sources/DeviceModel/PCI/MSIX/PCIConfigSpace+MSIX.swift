import Logging

extension PCIConfigSpace {
    /// Adds an MSI-X capability (PCI Local Bus 3.0 §6.8.2) with `vectorCount` vectors whose
    /// table and PBA live in memory BARs already defined with ``addBAR(_:at:)``.
    ///
    /// Message control advertises `vectorCount - 1` in bits 10:0; bits 14 (function mask)
    /// and 15 (MSI-X enable) are guest-writable. The table and PBA offsets must be 8-byte
    /// aligned (the low 3 bits of those registers hold the BAR index), lie inside their
    /// BARs, and not overlap each other.
    ///
    /// - Parameter controller: where messages go (the backend's MSI delivery).
    /// - Returns: the capability; its offset is ``findCapability(_:)`` with ID 0x11.
    public func addMSIXCapability(
        vectorCount: Int, table: MSIXCapability.Location, pba: MSIXCapability.Location,
        controller: any MSIController, logger: Logger = Logger(label: "swiftdm.pci.msix")
    ) throws(PCIError) -> MSIXCapability {
        guard (1...2048).contains(vectorCount) else { throw .invalidMSIXVectorCount(vectorCount) }
        let tableLength = UInt64(vectorCount * MSIXCapability.entrySize)
        let pbaLength = UInt64((vectorCount + 63) / 64 * 8)
        try checkMSIXPlacement(table, length: tableLength, what: "table")
        try checkMSIXPlacement(pba, length: pbaLength, what: "PBA")
        if table.bar == pba.bar {
            let t = UInt64(table.offset)..<(UInt64(table.offset) + tableLength)
            let p = UInt64(pba.offset)..<(UInt64(pba.offset) + pbaLength)
            if t.overlaps(p) {
                throw .invalidMSIXPlacement("table at 0x\(String(table.offset, radix: 16)) overlaps PBA at 0x\(String(pba.offset, radix: 16))")
            }
        }
        guard state.withLock({ $0.msix == nil }) else { throw .msixAlreadyPresent }

        let msix = MSIXCapability(vectorCount: vectorCount, table: table, pba: pba, controller: controller, logger: logger)
        let control = UInt16(vectorCount - 1)
        let tableRegister = table.offset | UInt32(table.bar)
        let pbaRegister = pba.offset | UInt32(pba.bar)
        var body: [UInt8] = [UInt8(truncatingIfNeeded: control), UInt8(truncatingIfNeeded: control >> 8)]
        for register in [tableRegister, pbaRegister] {
            for i in 0..<4 { body.append(UInt8(truncatingIfNeeded: register >> UInt32(8 * i))) }
        }
        var mask = [UInt8](repeating: 0, count: body.count)
        mask[1] = 0xC0
        let offset = try addCapability(id: MSIXCapability.capabilityID, body: body, writableMask: mask)
        state.withLock { s in
            s.msix = msix
            s.msixOffset = offset
            msix.busMasterChanged(s.bytes[PCIRegister.command] & UInt8(PCICommand.busMaster.rawValue) != 0)
        }
        return msix
    }

    /// The function's MSI-X capability, if it has one.
    public var msix: MSIXCapability? { state.withLock { $0.msix } }

    private func checkMSIXPlacement(_ location: MSIXCapability.Location, length: UInt64, what: String) throws(PCIError) {
        guard let bar = bar(location.bar) else {
            throw .invalidMSIXPlacement("\(what) BAR \(location.bar) is not defined")
        }
        guard bar.kind.isMemory else { throw .invalidMSIXPlacement("\(what) BAR \(location.bar) is an I/O BAR") }
        guard location.offset & 7 == 0 else {
            throw .invalidMSIXPlacement("\(what) offset 0x\(String(location.offset, radix: 16)) is not 8-byte aligned")
        }
        guard UInt64(location.offset) + length <= bar.size else {
            throw .invalidMSIXPlacement(
                "\(what) [0x\(String(location.offset, radix: 16)), +0x\(String(length, radix: 16))) exceeds BAR \(location.bar) size 0x\(String(bar.size, radix: 16))")
        }
    }
}
