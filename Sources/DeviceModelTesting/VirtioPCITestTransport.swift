import DeviceModel

/// The driver side of virtio-pci (Linux `virtio_pci_modern.c` / `virtio_pci_legacy.c` on top
/// of the PCI core): enumerates the function through configuration accesses, sizes and
/// assigns its BARs, walks the capability list, sets up MSI-X or stays on INTx, and then
/// reaches the virtio registers through the modern capabilities or the legacy I/O BAR.
///
/// Configuration accesses go to the dispatcher's `pciConfig` space as
/// `(SBDF << 32) | register`; BAR accesses to its `memory` and `ports` spaces.
public final class VirtioPCITestTransport: VirtioTestTransport {
    /// Which register interface the driver uses.
    public enum Interface: Sendable, Hashable {
        /// The virtio 1.x capabilities (needs `VERSION_1`).
        case modern
        /// The legacy I/O BAR 0 of a transitional device (no `VERSION_1`).
        case legacy
    }

    /// How the driver takes interrupts.
    public enum InterruptMode: Sendable, Hashable {
        /// MSI-X: vector 0 for configuration changes, vector `n + 1` for queue `n` by default.
        case msix
        /// INTx and the ISR.
        case intx
    }

    /// One `struct virtio_pci_cap` as found in configuration space.
    public struct Capability: Sendable, Hashable {
        public let offset: Int
        public let type: UInt8
        public let bar: Int
        public let barOffset: UInt64
        public let length: UInt64
    }

    /// The MSI-X capability as found in configuration space.
    public struct MSIXInfo: Sendable, Hashable {
        public let offset: Int
        public let vectorCount: Int
        public let tableBAR: Int
        public let tableOffset: UInt64
        public let pbaBAR: Int
        public let pbaOffset: UInt64
    }

    /// MSI-X messages this driver programs: address 0xFEE0_0000, data `dataBase | vector`.
    public static let messageAddress: UInt64 = 0xFEE0_0000
    public static let dataBase: UInt32 = 0x0001_0000

    /// Where configuration and BAR accesses go.
    public let dispatcher: IODispatcher
    /// The function's `segment << 16 | bus << 8 | device << 3 | function`.
    public let sbdf: UInt32
    /// The register interface in use.
    public let interface: Interface
    /// How interrupts are taken.
    public let interruptMode: InterruptMode
    /// Identity read at enumeration (configuration header).
    public let vendorID: UInt16
    /// The PCI device ID (0x1040 + virtio ID, or 0x1000 + legacy ID).
    public let pciDeviceID: UInt16
    /// The revision ID (0 transitional, ≥ 1 modern).
    public let revisionID: UInt8
    /// The subsystem vendor ID.
    public let subsystemVendorID: UInt16
    /// The subsystem ID (the virtio device ID on transitional devices).
    public let subsystemID: UInt16
    /// The virtio device ID: `pciDeviceID - 0x1040`, or the subsystem ID for legacy IDs.
    public let deviceID: UInt32
    /// BAR index → (space, assigned address, size).
    public private(set) var bars: [Int: (space: IOSpace, address: UInt64, size: UInt64)] = [:]
    /// The vendor capabilities in list order.
    public private(set) var capabilities: [Capability] = []
    /// `notify_off_multiplier` of the notify capability.
    public private(set) var notifyOffMultiplier: UInt32 = 0
    /// The MSI-X capability, if the function has one.
    public private(set) var msix: MSIXInfo?
    private var notifyOffsets: [Int: UInt16] = [:]

    /// Enumerates the function at `sbdf` and prepares `interface` with `interruptMode`.
    /// BARs are assigned upwards from `memoryWindow` (memory) and `ioWindow` (I/O).
    public init(dispatcher: IODispatcher, sbdf: UInt32, interface: Interface = .modern,
                interruptMode: InterruptMode = .msix, memoryWindow: UInt64 = 0xE000_0000,
                ioWindow: UInt64 = 0xC000) throws(VirtioTestDriverError) {
        self.dispatcher = dispatcher
        self.sbdf = sbdf
        self.interface = interface
        self.interruptMode = interruptMode
        func cfg(_ register: Int, _ size: Int) -> UInt32 { Self.configRead(dispatcher, sbdf, register, size) }
        vendorID = UInt16(truncatingIfNeeded: cfg(0x00, 2))
        pciDeviceID = UInt16(truncatingIfNeeded: cfg(0x02, 2))
        revisionID = UInt8(truncatingIfNeeded: cfg(0x08, 1))
        subsystemVendorID = UInt16(truncatingIfNeeded: cfg(0x2C, 2))
        subsystemID = UInt16(truncatingIfNeeded: cfg(0x2E, 2))
        guard vendorID == 0x1AF4, (0x1000...0x107F).contains(pciDeviceID) else {
            throw .noDevice("PCI \(String(vendorID, radix: 16)):\(String(pciDeviceID, radix: 16)) is not virtio")
        }
        deviceID = pciDeviceID >= 0x1040 ? UInt32(pciDeviceID - 0x1040) : UInt32(subsystemID)

        try assignBARs(memoryWindow: memoryWindow, ioWindow: ioWindow)
        // I/O + memory decoding + bus mastering (for MSI-X writes and DMA).
        configWrite(0x04, 2, 0x0007)
        walkCapabilities()

        switch interface {
        case .modern:
            for type in [UInt8(1), 2, 3] where capability(type) == nil {
                throw .noDevice("modern virtio-pci capability type \(type) missing")
            }
        case .legacy:
            guard bars[0]?.space == .port else { throw .noDevice("no legacy I/O BAR 0") }
        }
        if interruptMode == .msix {
            guard let msix else { throw .noDevice("no MSI-X capability") }
            for v in 0..<msix.vectorCount {
                let entry = msix.tableOffset + UInt64(16 * v)
                writeBAR(msix.tableBAR, entry, 4, Self.messageAddress & 0xFFFF_FFFF)
                writeBAR(msix.tableBAR, entry + 4, 4, Self.messageAddress >> 32)
                writeBAR(msix.tableBAR, entry + 8, 4, UInt64(Self.dataBase | UInt32(v)))
                writeBAR(msix.tableBAR, entry + 12, 4, 0)   // unmasked
            }
            let control = cfg(msix.offset + 2, 2)
            configWrite(msix.offset + 2, 2, (control | 0x8000) & ~0x4000)
        }
    }

    /// Enumerates `device`.`function` on bus 0 of `machine`.
    public convenience init(machine: SimulatedMachine, device: UInt8, function: UInt8 = 0,
                            interface: Interface = .modern, interruptMode: InterruptMode = .msix) throws(VirtioTestDriverError) {
        try self.init(dispatcher: machine.dispatcher, sbdf: UInt32(device) << 3 | UInt32(function),
                      interface: interface, interruptMode: interruptMode)
    }

    public var isLegacy: Bool { interface == .legacy }
    public var legacyAlignment: UInt64 { 4096 }
    public var usesMSIX: Bool { interruptMode == .msix }
    public var queueSizeIsFixed: Bool { interface == .legacy }

    /// The first vendor capability of `type` (`cfg_type`), as Linux picks it.
    public func capability(_ type: UInt8) -> Capability? { capabilities.first { $0.type == type } }

    // MARK: Configuration space

    private static func configRead(_ dispatcher: IODispatcher, _ sbdf: UInt32, _ register: Int, _ size: Int) -> UInt32 {
        var request = IORequest.read(.pciConfig, UInt64(sbdf) << 32 | UInt64(register), size: size)
        do { try dispatcher.dispatch(&request) } catch { return .max }
        return UInt32(truncatingIfNeeded: request.value ?? .max)
    }

    /// Reads `size` bytes of the function's configuration space.
    public func configRead(_ register: Int, _ size: Int) -> UInt32 { Self.configRead(dispatcher, sbdf, register, size) }

    /// Writes `size` bytes of the function's configuration space.
    public func configWrite(_ register: Int, _ size: Int, _ value: UInt32) {
        var request = IORequest.write(.pciConfig, UInt64(sbdf) << 32 | UInt64(register), size: size, value: UInt64(value))
        try? dispatcher.dispatch(&request)
    }

    /// The BAR sizing protocol (PCI Local Bus 3.0 §6.2.5.1), then address assignment.
    private func assignBARs(memoryWindow: UInt64, ioWindow: UInt64) throws(VirtioTestDriverError) {
        var nextMemory = memoryWindow
        var nextIO = ioWindow
        var index = 0
        while index < 6 {
            let register = 0x10 + 4 * index
            configWrite(register, 4, 0xFFFF_FFFF)
            let low = configRead(register, 4)
            if low == 0 || low == 0xFFFF_FFFF && configRead(0x00, 2) == 0xFFFF {
                index += 1
                continue
            }
            if low & 1 != 0 {
                let size = UInt64(~(low & ~3) &+ 1) & 0xFFFF
                let address = (nextIO + size - 1) & ~(size - 1)
                configWrite(register, 4, UInt32(address))
                bars[index] = (.port, address, size)
                nextIO = address + size
                index += 1
                continue
            }
            let is64 = low & 0x6 == 0x4
            var mask = UInt64(low & ~0xF)
            if is64 {
                configWrite(register + 4, 4, 0xFFFF_FFFF)
                mask |= UInt64(configRead(register + 4, 4)) << 32
            } else {
                mask |= 0xFFFF_FFFF_0000_0000
            }
            let size = ~mask &+ 1
            guard size.nonzeroBitCount == 1 else { throw .noDevice("BAR \(index) size mask 0x\(String(mask, radix: 16))") }
            let address = (nextMemory + size - 1) & ~(size - 1)
            configWrite(register, 4, UInt32(truncatingIfNeeded: address))
            if is64 { configWrite(register + 4, 4, UInt32(truncatingIfNeeded: address >> 32)) }
            bars[index] = (.memory, address, size)
            nextMemory = address + size
            index += is64 ? 2 : 1
        }
    }

    /// `pci_find_capability`-style walk, bounded to 48 entries.
    private func walkCapabilities() {
        var pointer = Int(configRead(0x34, 1)) & ~3
        var steps = 0
        while pointer >= 0x40, pointer < 0x100, steps < 48 {
            steps += 1
            let id = configRead(pointer, 1)
            if id == 0x09 {
                let cap = Capability(offset: pointer, type: UInt8(truncatingIfNeeded: configRead(pointer + 3, 1)),
                                     bar: Int(configRead(pointer + 4, 1)), barOffset: UInt64(configRead(pointer + 8, 4)),
                                     length: UInt64(configRead(pointer + 12, 4)))
                capabilities.append(cap)
                if cap.type == 2, notifyOffMultiplier == 0 { notifyOffMultiplier = configRead(pointer + 16, 4) }
            } else if id == 0x11, msix == nil {
                let control = configRead(pointer + 2, 2)
                let table = configRead(pointer + 4, 4)
                let pba = configRead(pointer + 8, 4)
                msix = MSIXInfo(offset: pointer, vectorCount: Int(control & 0x7FF) + 1,
                                tableBAR: Int(table & 7), tableOffset: UInt64(table & ~7),
                                pbaBAR: Int(pba & 7), pbaOffset: UInt64(pba & ~7))
            }
            pointer = Int(configRead(pointer + 1, 1)) & ~3
        }
    }

    // MARK: BAR access

    /// Reads `size` bytes at `offset` in BAR `bar`.
    public func readBAR(_ bar: Int, _ offset: UInt64, _ size: Int) -> UInt64 {
        guard let b = bars[bar] else { return IORequest.mask(forSize: size) }
        var request = IORequest.read(b.space, b.address + offset, size: size)
        do { try dispatcher.dispatch(&request) } catch { return IORequest.mask(forSize: size) }
        return request.value ?? IORequest.mask(forSize: size)
    }

    /// Writes `size` bytes at `offset` in BAR `bar`.
    public func writeBAR(_ bar: Int, _ offset: UInt64, _ size: Int, _ value: UInt64) {
        guard let b = bars[bar] else { return }
        var request = IORequest.write(b.space, b.address + offset, size: size, value: value)
        try? dispatcher.dispatch(&request)
    }

    /// Reads a field of the common configuration (modern).
    public func readCommon(_ offset: UInt64, _ size: Int) -> UInt64 {
        guard let c = capability(1) else { return IORequest.mask(forSize: size) }
        return readBAR(c.bar, c.barOffset + offset, size)
    }

    /// Writes a field of the common configuration (modern).
    public func writeCommon(_ offset: UInt64, _ size: Int, _ value: UInt64) {
        guard let c = capability(1) else { return }
        writeBAR(c.bar, c.barOffset + offset, size, value)
    }

    /// Reads a register of the legacy I/O BAR.
    public func readLegacy(_ offset: UInt64, _ size: Int) -> UInt64 { readBAR(0, offset, size) }

    /// Writes a register of the legacy I/O BAR.
    public func writeLegacy(_ offset: UInt64, _ size: Int, _ value: UInt64) { writeBAR(0, offset, size, value) }

    /// Whether MSI-X is enabled in the capability's message control.
    public var msixEnabled: Bool {
        guard let msix else { return false }
        return configRead(msix.offset + 2, 2) & 0x8000 != 0
    }

    private var legacyConfigOffset: UInt64 { msixEnabled ? 24 : 20 }

    // MARK: VirtioTestTransport

    public func readStatus() -> UInt8 {
        UInt8(truncatingIfNeeded: isLegacy ? readLegacy(0x12, 1) : readCommon(0x14, 1))
    }

    public func writeStatus(_ status: UInt8) {
        if isLegacy { writeLegacy(0x12, 1, UInt64(status)) } else { writeCommon(0x14, 1, UInt64(status)) }
    }

    public func readDeviceFeatures() -> UInt64 {
        if isLegacy { return readLegacy(0x00, 4) }
        writeCommon(0x00, 4, 0)
        let low = readCommon(0x04, 4)
        writeCommon(0x00, 4, 1)
        return low | readCommon(0x04, 4) << 32
    }

    public func writeDriverFeatures(_ features: UInt64) {
        if isLegacy {
            writeLegacy(0x04, 4, features & 0xFFFF_FFFF)
            return
        }
        writeCommon(0x08, 4, 0)
        writeCommon(0x0C, 4, features & 0xFFFF_FFFF)
        writeCommon(0x08, 4, 1)
        writeCommon(0x0C, 4, features >> 32)
    }

    public var queueCountHint: Int? { isLegacy ? nil : Int(readCommon(0x12, 2)) }

    private func select(_ index: Int) {
        if isLegacy { writeLegacy(0x0E, 2, UInt64(index & 0xFFFF)) } else { writeCommon(0x16, 2, UInt64(index & 0xFFFF)) }
    }

    public func queueMaxSize(_ index: Int) -> UInt32 {
        select(index)
        return UInt32(isLegacy ? readLegacy(0x0C, 2) : readCommon(0x18, 2))
    }

    public func queueEnabled(_ index: Int) -> Bool {
        select(index)
        return (isLegacy ? readLegacy(0x08, 4) : readCommon(0x1C, 2)) != 0
    }

    public func configureQueue(_ index: Int, placement: VirtioTestRingPlacement, msixVector: UInt16?) -> UInt16? {
        select(index)
        var accepted: UInt16? = nil
        if isLegacy {
            if let msixVector, usesMSIX {
                writeLegacy(0x16, 2, UInt64(msixVector))
                accepted = UInt16(truncatingIfNeeded: readLegacy(0x16, 2))
            }
            writeLegacy(0x08, 4, placement.descriptorTable / 4096)
            return accepted
        }
        writeCommon(0x18, 2, UInt64(placement.size & 0xFFFF))
        if let msixVector, usesMSIX {
            writeCommon(0x1A, 2, UInt64(msixVector))
            accepted = UInt16(truncatingIfNeeded: readCommon(0x1A, 2))
        }
        // 64-bit fields as two 32-bit writes (vp_iowrite64_twopart).
        for (field, value) in [(UInt64(0x20), placement.descriptorTable), (0x28, placement.availRing), (0x30, placement.usedRing)] {
            writeCommon(field, 4, value & 0xFFFF_FFFF)
            writeCommon(field + 4, 4, value >> 32)
        }
        notifyOffsets[index] = UInt16(truncatingIfNeeded: readCommon(0x1E, 2))
        writeCommon(0x1C, 2, 1)
        return accepted
    }

    public func setConfigVector(_ vector: UInt16) -> UInt16 {
        if isLegacy {
            writeLegacy(0x14, 2, UInt64(vector))
            return UInt16(truncatingIfNeeded: readLegacy(0x14, 2))
        }
        writeCommon(0x10, 2, UInt64(vector))
        return UInt16(truncatingIfNeeded: readCommon(0x10, 2))
    }

    public func notify(queue index: Int) {
        if isLegacy {
            writeLegacy(0x10, 2, UInt64(index & 0xFFFF))
            return
        }
        guard let n = capability(2) else { return }
        let off: UInt16
        if let cached = notifyOffsets[index] {
            off = cached
        } else {
            select(index)
            off = UInt16(truncatingIfNeeded: readCommon(0x1E, 2))
        }
        writeBAR(n.bar, n.barOffset + UInt64(off) * UInt64(notifyOffMultiplier), 2, UInt64(index & 0xFFFF))
    }

    public func readConfig(offset: Int, size: Int) -> UInt64 {
        if isLegacy { return readLegacy(legacyConfigOffset + UInt64(offset), size) }
        guard let d = capability(4) else { return IORequest.mask(forSize: size) }
        return readBAR(d.bar, d.barOffset + UInt64(offset), size)
    }

    public func writeConfig(offset: Int, size: Int, value: UInt64) {
        if isLegacy {
            writeLegacy(legacyConfigOffset + UInt64(offset), size, value)
            return
        }
        guard let d = capability(4) else { return }
        writeBAR(d.bar, d.barOffset + UInt64(offset), size, value)
    }

    public func configGeneration() -> UInt32 { isLegacy ? 0 : UInt32(readCommon(0x15, 1)) }

    /// `vp_interrupt`: reading the ISR returns and clears it (and drops INTx).
    public func acknowledgeInterrupt() -> VirtioTestInterrupt {
        let isr: UInt64
        if isLegacy {
            isr = readLegacy(0x13, 1)
        } else if let c = capability(3) {
            isr = readBAR(c.bar, c.barOffset, 1)
        } else {
            isr = 0
        }
        return VirtioTestInterrupt(usedBuffers: isr & 1 != 0, configChange: isr & 2 != 0)
    }

    public func msixVector(of message: MSIMessage) -> UInt16? {
        guard message.address == Self.messageAddress, message.data & 0xFFFF_0000 == Self.dataBase else { return nil }
        return UInt16(truncatingIfNeeded: message.data)
    }
}
