import Synchronization

/// A type-0 configuration space: the register file of one PCI function.
///
/// Every byte has a write mask (bits the guest may change) and a write-1-to-clear mask
/// (bits a guest write of 1 clears), so read-only and W1C registers behave as the spec says
/// without per-register code (PCI Local Bus 3.0 §6.1: read-only bits ignore writes; §6.2.3:
/// status error bits are cleared by writing 1). The header starts out as a plain endpoint:
/// command bits IO/memory/bus master/parity/SERR/interrupt disable writable, status error
/// bits W1C, cache line size and interrupt line writable, everything else read-only.
///
/// Two views of the same bytes:
/// - the guest's: ``read(at:size:)`` and ``guestWrite(at:size:value:)`` (masks and side
///   effects applied; out-of-range or dword-crossing accesses read all ones / are dropped);
/// - the device's: ``store(_:at:size:)`` and the typed properties, which ignore the masks so a
///   device can set its read-only registers.
///
/// All methods are thread-safe (one internal lock). Lock order: this lock, then the lock of
/// the function's ``MSIXCapability``, then the INTx router and the backend's interrupt line.
public final class PCIConfigSpace: Sendable {
    /// 256 bytes of conventional PCI configuration space.
    public static let conventionalSize = 256
    /// 4 KiB of PCI Express extended configuration space (reachable through ECAM only).
    public static let extendedSize = 4096

    /// 256 for conventional functions, 4096 for PCI Express functions.
    public let size: Int

    let state: Mutex<State>

    /// Creates a header with the given identity.
    ///
    /// - Parameter extended: `true` for a 4 KiB (PCI Express) configuration space; a
    ///   conventional function reads all ones beyond offset 255, as QEMU's do.
    public init(
        vendorID: UInt16, deviceID: UInt16, classCode: PCIClassCode, revisionID: UInt8 = 0,
        subsystemVendorID: UInt16 = 0, subsystemID: UInt16 = 0, extended: Bool = false
    ) {
        size = extended ? Self.extendedSize : Self.conventionalSize
        var s = State(size: size)
        s.put(UInt32(vendorID), at: PCIRegister.vendorID, size: 2)
        s.put(UInt32(deviceID), at: PCIRegister.deviceID, size: 2)
        s.put(UInt32(revisionID), at: PCIRegister.revisionID, size: 1)
        s.putClassCode(classCode)
        s.put(UInt32(subsystemVendorID), at: PCIRegister.subsystemVendorID, size: 2)
        s.put(UInt32(subsystemID), at: PCIRegister.subsystemID, size: 2)
        State.setMask(&s.writable, UInt32(PCICommand.writable.rawValue), at: PCIRegister.command, size: 2)
        State.setMask(&s.writeOneToClear, UInt32(PCIStatus.writeOneToClear.rawValue), at: PCIRegister.status, size: 2)
        s.writable[PCIRegister.cacheLineSize] = 0xFF
        s.writable[PCIRegister.interruptLine] = 0xFF
        state = Mutex(s)
    }

    // MARK: Guest view

    /// Reads `size` (1, 2 or 4) bytes at `offset` as the guest sees them, little-endian.
    ///
    /// Accesses beyond the space, of another size, or crossing a dword boundary (which
    /// conf1 and ECAM cannot express; PCI Express Base 4.0 §7.2.2) read all ones.
    public func read(at offset: Int, size: Int) -> UInt32 {
        guard isValidAccess(offset: offset, size: size) else { return Self.allOnes(size) }
        return state.withLock { $0.get(at: offset, size: size) }
    }

    /// Applies a guest write: only writable bits change, W1C bits that are written as 1 clear.
    ///
    /// Side effects happen here so they are the same whichever path the write took: an
    /// MSI-X message control or bus master change reaches the ``MSIXCapability``, and the INTx output is
    /// re-evaluated when the interrupt-disable bit or MSI-X enable may have changed.
    /// Invalid accesses (see ``read(at:size:)``) are dropped.
    public func guestWrite(at offset: Int, size: Int, value: UInt32) {
        guard isValidAccess(offset: offset, size: size) else { return }
        state.withLock { s in
            for i in 0..<size {
                let o = offset + i
                let b = UInt8(truncatingIfNeeded: value >> UInt32(8 * i))
                let w = s.writable[o]
                var new = (s.bytes[o] & ~w) | (b & w)
                new &= ~(b & s.writeOneToClear[o])
                s.bytes[o] = new
            }
            let touched = offset..<(offset + size)
            var interruptRelevant = touched.contains(PCIRegister.command + 1)
            if let msix = s.msix, let cap = s.msixOffset {
                if touched.contains(PCIRegister.command) {
                    msix.busMasterChanged(s.bytes[PCIRegister.command] & UInt8(PCICommand.busMaster.rawValue) != 0)
                }
                let control = (cap + 2)..<(cap + 4)
                if touched.overlaps(control) {
                    let bits = UInt16(truncatingIfNeeded: s.get(at: cap + 2, size: 2))
                    msix.controlChanged(bits)
                    interruptRelevant = true
                }
            }
            if interruptRelevant { s.updateINTxOutput() }
        }
    }

    // MARK: Device view

    /// Stores `size` (1, 2 or 4) bytes at `offset`, ignoring write masks and without side
    /// effects: how a device sets read-only registers. Out-of-range stores are ignored.
    public func store(_ value: UInt32, at offset: Int, size: Int) {
        guard [1, 2, 4].contains(size), offset >= 0, offset <= self.size - size else { return }
        state.withLock { $0.put(value, at: offset, size: size) }
    }

    /// Makes the bits set in `mask` guest-writable (and the others read-only) for the
    /// `size` (1, 2 or 4) bytes at `offset`. Out-of-range calls are ignored.
    public func setWritableMask(_ mask: UInt32, at offset: Int, size: Int) {
        guard [1, 2, 4].contains(size), offset >= 0, offset <= self.size - size else { return }
        state.withLock { s in State.setMask(&s.writable, mask, at: offset, size: size) }
    }

    /// Makes the bits set in `mask` write-1-to-clear for the `size` (1, 2 or 4) bytes at
    /// `offset`. Out-of-range calls are ignored.
    public func setWriteOneToClearMask(_ mask: UInt32, at offset: Int, size: Int) {
        guard [1, 2, 4].contains(size), offset >= 0, offset <= self.size - size else { return }
        state.withLock { s in State.setMask(&s.writeOneToClear, mask, at: offset, size: size) }
    }

    // MARK: Header fields

    /// Vendor ID (0x00).
    public var vendorID: UInt16 {
        get { UInt16(truncatingIfNeeded: read(at: PCIRegister.vendorID, size: 2)) }
        set { store(UInt32(newValue), at: PCIRegister.vendorID, size: 2) }
    }

    /// Device ID (0x02).
    public var deviceID: UInt16 {
        get { UInt16(truncatingIfNeeded: read(at: PCIRegister.deviceID, size: 2)) }
        set { store(UInt32(newValue), at: PCIRegister.deviceID, size: 2) }
    }

    /// Revision ID (0x08).
    public var revisionID: UInt8 {
        get { UInt8(truncatingIfNeeded: read(at: PCIRegister.revisionID, size: 1)) }
        set { store(UInt32(newValue), at: PCIRegister.revisionID, size: 1) }
    }

    /// Class code (0x09–0x0B).
    public var classCode: PCIClassCode {
        get {
            let v = read(at: PCIRegister.revisionID, size: 4)
            return PCIClassCode(
                baseClass: UInt8(truncatingIfNeeded: v >> 24), subclass: UInt8(truncatingIfNeeded: v >> 16),
                programmingInterface: UInt8(truncatingIfNeeded: v >> 8))
        }
        set { state.withLock { $0.putClassCode(newValue) } }
    }

    /// Subsystem vendor ID (0x2C).
    public var subsystemVendorID: UInt16 {
        get { UInt16(truncatingIfNeeded: read(at: PCIRegister.subsystemVendorID, size: 2)) }
        set { store(UInt32(newValue), at: PCIRegister.subsystemVendorID, size: 2) }
    }

    /// Subsystem ID (0x2E).
    public var subsystemID: UInt16 {
        get { UInt16(truncatingIfNeeded: read(at: PCIRegister.subsystemID, size: 2)) }
        set { store(UInt32(newValue), at: PCIRegister.subsystemID, size: 2) }
    }

    /// The INTx pin the function uses; set it before attaching the function to a bus.
    public var interruptPin: PCIInterruptPin {
        get { PCIInterruptPin(rawValue: UInt8(truncatingIfNeeded: read(at: PCIRegister.interruptPin, size: 1))) ?? .none }
        set { store(UInt32(newValue.rawValue), at: PCIRegister.interruptPin, size: 1) }
    }

    /// The interrupt line register: written by firmware, informational only (§6.2.4).
    public var interruptLine: UInt8 {
        get { UInt8(truncatingIfNeeded: read(at: PCIRegister.interruptLine, size: 1)) }
        set { store(UInt32(newValue), at: PCIRegister.interruptLine, size: 1) }
    }

    /// Bit 7 of the header type: the slot has functions other than 0 (§6.2.1).
    public var isMultiFunction: Bool {
        get { read(at: PCIRegister.headerType, size: 1) & 0x80 != 0 }
        set {
            state.withLock { s in
                let v = s.bytes[PCIRegister.headerType]
                s.bytes[PCIRegister.headerType] = newValue ? v | 0x80 : v & 0x7F
            }
        }
    }

    /// The command register as last written by the guest.
    public var command: PCICommand {
        PCICommand(rawValue: UInt16(truncatingIfNeeded: read(at: PCIRegister.command, size: 2)))
    }

    /// The status register.
    public var status: PCIStatus {
        PCIStatus(rawValue: UInt16(truncatingIfNeeded: read(at: PCIRegister.status, size: 2)))
    }

    /// Sets status bits from the device side (for example an error it detected); the guest
    /// clears the W1C ones by writing 1.
    public func raiseStatus(_ bits: PCIStatus) {
        state.withLock { s in
            let v = UInt16(truncatingIfNeeded: s.get(at: PCIRegister.status, size: 2)) | bits.rawValue
            s.put(UInt32(v), at: PCIRegister.status, size: 2)
        }
    }

    // MARK: Reset

    /// Records the current bytes as the function's power-on state; the bus calls this when it
    /// attaches the function, once the device has built its registers.
    func recordPowerOnState() {
        state.withLock { $0.powerOn = $0.bytes }
    }

    /// A PCI reset (RST#, PCI Local Bus 3.0 §6.6): every guest-writable and write-1-to-clear
    /// bit returns to its value at attach — command (no decoding, no bus mastering), status
    /// errors, cache line size, interrupt line, BAR addresses, capability registers such as
    /// MSI-X enable — while read-only bits, which the device owns, stay. The MSI-X table and
    /// PBA reset too (every vector masked, nothing pending), and INTx follows. The bus places
    /// the BARs afterwards (``PCIBus/systemReset()``).
    func resetToPowerOn() {
        state.withLock { s in
            guard let powerOn = s.powerOn else { return }
            for o in s.bytes.indices {
                let guestBits = s.writable[o] | s.writeOneToClear[o]
                s.bytes[o] = s.bytes[o] & ~guestBits | powerOn[o] & guestBits
            }
            if let msix = s.msix, let cap = s.msixOffset {
                msix.reset()
                msix.busMasterChanged(s.bytes[PCIRegister.command] & UInt8(PCICommand.busMaster.rawValue) != 0)
                msix.controlChanged(UInt16(truncatingIfNeeded: s.get(at: cap + 2, size: 2)))
            }
            s.updateINTxOutput()
        }
    }

    // MARK: Helpers

    func isValidAccess(offset: Int, size: Int) -> Bool {
        guard size == 1 || size == 2 || size == 4, offset >= 0, offset <= self.size - size else { return false }
        return (offset & 3) + size <= 4
    }

    static func allOnes(_ size: Int) -> UInt32 {
        size >= 4 ? .max : (UInt32(1) << UInt32(size * 8)) &- 1
    }
}

extension PCIConfigSpace {
    /// Everything behind the config space lock.
    struct State {
        var bytes: [UInt8]
        var writable: [UInt8]
        var writeOneToClear: [UInt8]
        /// Definitions by BAR register; the upper register of a 64-bit BAR holds `.upperHalf`.
        var bars: [BARSlot] = Array(repeating: .empty, count: 6)
        var lastCapability: Int?
        var nextCapability = PCIRegister.firstCapability
        var lastExtendedCapability: Int?
        var nextExtendedCapability = PCIRegister.firstExtendedCapability
        var msix: MSIXCapability?
        var msixOffset: Int?
        var intx = INTxState()
        /// The bytes when the function was attached: what a reset returns the guest-writable
        /// bits to.
        var powerOn: [UInt8]?

        init(size: Int) {
            bytes = Array(repeating: 0, count: size)
            writable = Array(repeating: 0, count: size)
            writeOneToClear = Array(repeating: 0, count: size)
        }

        func get(at offset: Int, size: Int) -> UInt32 {
            var v: UInt32 = 0
            for i in 0..<size { v |= UInt32(bytes[offset + i]) << UInt32(8 * i) }
            return v
        }

        mutating func put(_ value: UInt32, at offset: Int, size: Int) {
            for i in 0..<size { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> UInt32(8 * i)) }
        }

        static func setMask(_ table: inout [UInt8], _ mask: UInt32, at offset: Int, size: Int) {
            for i in 0..<size { table[offset + i] = UInt8(truncatingIfNeeded: mask >> UInt32(8 * i)) }
        }

        mutating func putClassCode(_ c: PCIClassCode) {
            bytes[PCIRegister.classCode] = c.programmingInterface
            bytes[PCIRegister.classCode + 1] = c.subclass
            bytes[PCIRegister.classCode + 2] = c.baseClass
        }
    }

    enum BARSlot: Equatable {
        case empty
        case defined(PCIBAR)
        case upperHalf
    }
}
