/// A PCI function's saved state: its configuration space as the guest left it (BARs, command,
/// interrupt line, capability registers) and its MSI-X table and pending bits. The device
/// behind the function (its BAR registers, queues) saves its own record.
extension PCIBus {
    static let functionStateKind = "pci-function"

    /// The record of the function at `device`.`function`, or `nil` when there is none.
    public func saveFunctionState(device: UInt8, function functionNumber: UInt8, id: String) -> DeviceStateRecord? {
        guard let f = function(device: device, function: functionNumber) else { return nil }
        var r = DeviceStateRecord(id: id, kind: Self.functionStateKind, version: 1)
        let config = f.configSpace
        r.set("config", bytes: config.state.withLock { $0.bytes })
        if let msix = config.msix {
            let (words, pending) = msix.savedState()
            r.set("msix-table", array: words)
            r.set("msix-pending", array: pending)
        }
        return r
    }

    /// Loads `record` into the function at `device`.`function`, then places its BARs and
    /// re-evaluates its interrupts as a guest write would have.
    ///
    /// The read-only bytes (identity, BAR sizes and types, capability layout) must equal the
    /// built function's: a record from another device configuration is refused. Only the
    /// status register's read-only bits may differ (the device sets them).
    public func restoreFunctionState(_ r: DeviceStateRecord, device: UInt8, function functionNumber: UInt8) throws(DeviceStateError) {
        try r.expect(kind: Self.functionStateKind, versions: 1...1)
        guard let f = function(device: device, function: functionNumber) else { throw .missingRecord(id: "\(r.id) (no function at \(device).\(functionNumber))") }
        let config = f.configSpace
        let bytes = try r.bytes("config", count: config.size)
        let status = PCIRegister.status..<(PCIRegister.status + 2)
        let mismatch: Int? = config.state.withLock { s in
            (0..<s.bytes.count).first { o in
                !status.contains(o) && (bytes[o] ^ s.bytes[o]) & ~(s.writable[o] | s.writeOneToClear[o]) != 0
            }
        }
        if let o = mismatch {
            let built = config.state.withLock { $0.bytes[o] }
            throw r.invalid("config", "byte 0x\(String(o, radix: 16)) = 0x\(String(bytes[o], radix: 16))",
                            expected: "0x\(String(built, radix: 16)) as this function is built (a snapshot of another device?)")
        }
        var msixWords: [UInt64]?
        var msixPending: [UInt64]?
        if let msix = config.msix {
            msixWords = try r.unsignedArray("msix-table", count: msix.vectorCount * 4, max: UInt64(UInt32.max))
            msixPending = try r.unsignedArray("msix-pending", count: (msix.vectorCount + 63) / 64)
        }
        config.state.withLock { s in
            s.bytes = bytes
            if let msix = s.msix, let cap = s.msixOffset, let msixWords, let msixPending {
                msix.restore(words: msixWords, pending: msixPending)
                msix.busMasterChanged(s.bytes[PCIRegister.command] & UInt8(PCICommand.busMaster.rawValue) != 0)
                msix.controlChanged(UInt16(truncatingIfNeeded: s.get(at: cap + 2, size: 2)))
            }
            s.updateINTxOutput()
        }
        remapAfterRestore(device << 3 | functionNumber, f)
    }
}
