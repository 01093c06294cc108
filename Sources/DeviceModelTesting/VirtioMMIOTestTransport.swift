import DeviceModel

/// The driver side of virtio-mmio (Linux `virtio_mmio.c`): registers reached with 32-bit
/// MMIO accesses through an ``IODispatcher``, as a vCPU would issue them.
public final class VirtioMMIOTestTransport: VirtioTestTransport {
    /// Register offsets (§4.2.2, §4.2.4).
    public enum Register {
        public static let magicValue: UInt64 = 0x000
        public static let version: UInt64 = 0x004
        public static let deviceID: UInt64 = 0x008
        public static let vendorID: UInt64 = 0x00C
        public static let deviceFeatures: UInt64 = 0x010
        public static let deviceFeaturesSel: UInt64 = 0x014
        public static let driverFeatures: UInt64 = 0x020
        public static let driverFeaturesSel: UInt64 = 0x024
        public static let guestPageSize: UInt64 = 0x028
        public static let queueSel: UInt64 = 0x030
        public static let queueNumMax: UInt64 = 0x034
        public static let queueNum: UInt64 = 0x038
        public static let queueAlign: UInt64 = 0x03C
        public static let queuePFN: UInt64 = 0x040
        public static let queueReady: UInt64 = 0x044
        public static let queueNotify: UInt64 = 0x050
        public static let interruptStatus: UInt64 = 0x060
        public static let interruptACK: UInt64 = 0x064
        public static let status: UInt64 = 0x070
        public static let queueDescLow: UInt64 = 0x080
        public static let queueDescHigh: UInt64 = 0x084
        public static let queueDriverLow: UInt64 = 0x090
        public static let queueDriverHigh: UInt64 = 0x094
        public static let queueDeviceLow: UInt64 = 0x0A0
        public static let queueDeviceHigh: UInt64 = 0x0A4
        public static let configGeneration: UInt64 = 0x0FC
        public static let config: UInt64 = 0x100
    }

    /// Where the register accesses go, as a vCPU's MMIO exits would.
    public let dispatcher: IODispatcher
    /// Guest-physical base of the register window.
    public let base: UInt64
    /// The `Version` register: 1 (legacy) or 2.
    public let version: UInt32
    /// The `DeviceID` register (virtio device ID, §5).
    public let deviceID: UInt32
    /// The `VendorID` register.
    public let vendorID: UInt32
    /// The guest page size written to `GuestPageSize` on a legacy device.
    public let legacyAlignment: UInt64 = 4096

    /// Probes the device at `base` as `virtio_mmio_probe` does: magic "virt", version 1 or
    /// 2, a non-zero device ID; on version 1 writes `GuestPageSize`.
    public init(dispatcher: IODispatcher, base: UInt64) throws(VirtioTestDriverError) {
        self.dispatcher = dispatcher
        self.base = base
        let magic = Self.read(dispatcher, base + Register.magicValue)
        guard magic == 0x7472_6976 else {
            throw .noDevice("magic 0x\(String(magic, radix: 16)) at 0x\(String(base, radix: 16))")
        }
        version = Self.read(dispatcher, base + Register.version)
        guard version == 1 || version == 2 else { throw .noDevice("virtio-mmio version \(version)") }
        deviceID = Self.read(dispatcher, base + Register.deviceID)
        guard deviceID != 0 else { throw .noDevice("device ID 0 (placeholder)") }
        vendorID = Self.read(dispatcher, base + Register.vendorID)
        if version == 1 { writeRegister(Register.guestPageSize, UInt32(legacyAlignment)) }
    }

    /// Probes the device at `base` on `machine`'s dispatcher.
    public convenience init(machine: SimulatedMachine, base: UInt64) throws(VirtioTestDriverError) {
        try self.init(dispatcher: machine.dispatcher, base: base)
    }

    public var isLegacy: Bool { version == 1 }
    public var usesMSIX: Bool { false }
    public var queueSizeIsFixed: Bool { false }
    public var queueCountHint: Int? { nil }

    // MARK: Raw registers

    /// Reads the 32-bit register at `offset`.
    public func readRegister(_ offset: UInt64) -> UInt32 { Self.read(dispatcher, base + offset) }

    /// Writes the 32-bit register at `offset`.
    public func writeRegister(_ offset: UInt64, _ value: UInt32) {
        var request = IORequest.write(.memory, base + offset, size: 4, value: UInt64(value))
        try? dispatcher.dispatch(&request)
    }

    private static func read(_ dispatcher: IODispatcher, _ address: UInt64, size: Int = 4) -> UInt32 {
        var request = IORequest.read(.memory, address, size: size)
        do { try dispatcher.dispatch(&request) } catch { return .max }
        return UInt32(truncatingIfNeeded: request.value ?? .max)
    }

    // MARK: VirtioTestTransport

    public func readStatus() -> UInt8 { UInt8(truncatingIfNeeded: readRegister(Register.status)) }
    public func writeStatus(_ status: UInt8) { writeRegister(Register.status, UInt32(status)) }

    public func readDeviceFeatures() -> UInt64 {
        writeRegister(Register.deviceFeaturesSel, 0)
        let low = UInt64(readRegister(Register.deviceFeatures))
        writeRegister(Register.deviceFeaturesSel, 1)
        return low | UInt64(readRegister(Register.deviceFeatures)) << 32
    }

    public func writeDriverFeatures(_ features: UInt64) {
        writeRegister(Register.driverFeaturesSel, 0)
        writeRegister(Register.driverFeatures, UInt32(truncatingIfNeeded: features))
        writeRegister(Register.driverFeaturesSel, 1)
        writeRegister(Register.driverFeatures, UInt32(truncatingIfNeeded: features >> 32))
    }

    public func queueMaxSize(_ index: Int) -> UInt32 {
        writeRegister(Register.queueSel, UInt32(truncatingIfNeeded: index))
        return readRegister(Register.queueNumMax)
    }

    public func queueEnabled(_ index: Int) -> Bool {
        writeRegister(Register.queueSel, UInt32(truncatingIfNeeded: index))
        return readRegister(isLegacy ? Register.queuePFN : Register.queueReady) != 0
    }

    public func configureQueue(_ index: Int, placement: VirtioTestRingPlacement, msixVector: UInt16?) -> UInt16? {
        writeRegister(Register.queueSel, UInt32(truncatingIfNeeded: index))
        writeRegister(Register.queueNum, placement.size)
        if isLegacy {
            // Linux writes GuestPageSize once at probe; rewriting it here keeps the PFN
            // meaningful even after a test scribbled over the register.
            writeRegister(Register.guestPageSize, UInt32(legacyAlignment))
            writeRegister(Register.queueAlign, UInt32(legacyAlignment))
            writeRegister(Register.queuePFN, UInt32(truncatingIfNeeded: placement.descriptorTable / legacyAlignment))
        } else {
            writeRegister(Register.queueDescLow, UInt32(truncatingIfNeeded: placement.descriptorTable))
            writeRegister(Register.queueDescHigh, UInt32(truncatingIfNeeded: placement.descriptorTable >> 32))
            writeRegister(Register.queueDriverLow, UInt32(truncatingIfNeeded: placement.availRing))
            writeRegister(Register.queueDriverHigh, UInt32(truncatingIfNeeded: placement.availRing >> 32))
            writeRegister(Register.queueDeviceLow, UInt32(truncatingIfNeeded: placement.usedRing))
            writeRegister(Register.queueDeviceHigh, UInt32(truncatingIfNeeded: placement.usedRing >> 32))
            writeRegister(Register.queueReady, 1)
        }
        return nil
    }

    public func setConfigVector(_ vector: UInt16) -> UInt16 { VirtioTestSpec.noVector }

    public func notify(queue index: Int) {
        writeRegister(Register.queueNotify, UInt32(truncatingIfNeeded: index))
    }

    public func readConfig(offset: Int, size: Int) -> UInt64 {
        var request = IORequest.read(.memory, base + Register.config + UInt64(offset), size: size)
        do { try dispatcher.dispatch(&request) } catch { return .max }
        return request.value ?? .max
    }

    public func writeConfig(offset: Int, size: Int, value: UInt64) {
        var request = IORequest.write(.memory, base + Register.config + UInt64(offset), size: size, value: value)
        try? dispatcher.dispatch(&request)
    }

    public func configGeneration() -> UInt32 { isLegacy ? 0 : readRegister(Register.configGeneration) }

    /// `vm_interrupt`: read InterruptStatus, acknowledge exactly those bits.
    public func acknowledgeInterrupt() -> VirtioTestInterrupt {
        let status = readRegister(Register.interruptStatus)
        if status != 0 { writeRegister(Register.interruptACK, status) }
        return VirtioTestInterrupt(usedBuffers: status & 1 != 0, configChange: status & 2 != 0)
    }

    public func msixVector(of message: MSIMessage) -> UInt16? { nil }
}
