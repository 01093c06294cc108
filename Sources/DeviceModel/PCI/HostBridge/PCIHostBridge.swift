import Logging
import Synchronization

/// The host bridge: function 00.0 of bus 0, and the two ways CPUs reach configuration space.
///
/// - Configuration mechanism #1 at ports 0xCF8–0xCFF (see ``PCIHostBridge/configAddress``).
/// - An optional ECAM/MMCONFIG window in the `memory` space. On ``Model/q35`` the guest
///   moves or disables it through the PCIEXBAR register (0x60), as SeaBIOS does.
///
/// The function identifies as an i440FX PMC (8086:1237, rev 02) or a Q35 MCH (8086:29C0),
/// class 06 00 00, so firmware recognises the chipset. Its PAM (shadow RAM) and SMRAM
/// registers are writable storage; a machine that implements their effects passes
/// `chipsetRegisterWrites`.
///
/// The dispatcher refers to the bridge only weakly: keep a reference while the machine runs.
public final class PCIHostBridge: Sendable {
    /// The chipset the host bridge presents.
    public enum Model: Sendable, Hashable {
        /// Intel 82441FX PMC (the `pc` machine): 8086:1237, revision 02.
        case i440fx
        /// Intel 82G33/P35 MCH (the `q35` machine): 8086:29C0, revision 00.
        case q35

        /// Intel.
        public var vendorID: UInt16 { 0x8086 }
        /// 0x1237 (82441FX) or 0x29C0 (82G33 MCH).
        public var deviceID: UInt16 { self == .i440fx ? 0x1237 : 0x29C0 }
        /// 0x02 for i440FX, 0x00 for Q35, as QEMU presents them.
        public var revisionID: UInt8 { self == .i440fx ? 0x02 : 0x00 }
        /// The first of the seven PAM registers.
        var pam0: Int { self == .i440fx ? 0x59 : 0x90 }
        /// The SMRAM control register.
        var smram: Int { self == .i440fx ? 0x72 : 0x9D }
    }

    /// The first port of configuration mechanism #1.
    public static let configAddressPort: UInt64 = 0xCF8
    /// The Q35 PCIEXBAR register (64-bit): bit 0 enable, bits 2:1 length, bits 35:26 base.
    public static let q35PCIEXBAR = 0x60

    /// The bus whose configuration space the bridge exposes (bus 0).
    public let bus: PCIBus
    /// The chipset identity.
    public let model: Model
    /// The bridge's own PCI function (00.0).
    public let function: PCIHostBridgeFunction

    private let address = Atomic<UInt32>(0)
    private let ecam: Mutex<PCIECAMWindow?>
    private let chipsetRegisterWrites: (@Sendable (_ offset: Int, _ size: Int, _ value: UInt32) -> Void)?
    private let logger: Logger

    /// Creates the bridge, attaches its function at 00.0 of `bus`, and registers ports
    /// 0xCF8–0xCFF and (if given) the ECAM window.
    ///
    /// - Parameters:
    ///   - ecam: the initial ECAM window; for ``Model/q35`` it must cover 64, 128 or 256 buses
    ///     at a base aligned to its size below 64 GiB, and is reflected in PCIEXBAR. `nil`
    ///     leaves ECAM off (Q35 firmware may enable it).
    ///   - resetControl: receives byte accesses to port 0xCF9 (reset control register).
    ///   - chipsetRegisterWrites: called after every guest write to the bridge's
    ///     configuration space (PAM, SMRAM, …), with the offset, size and written value.
    public init(
        bus: PCIBus, model: Model, ecam: PCIECAMWindow? = nil, resetControl: (any IOHandler)? = nil,
        subsystemVendorID: UInt16 = 0x1AF4, subsystemID: UInt16 = 0x1100,
        chipsetRegisterWrites: (@Sendable (_ offset: Int, _ size: Int, _ value: UInt32) -> Void)? = nil,
        logger: Logger = Logger(label: "swiftdm.pci.host")
    ) throws(PCIError) {
        if model == .q35, let ecam {
            guard [64, 128, 256].contains(ecam.busCount), ecam.base % ecam.length == 0, ecam.base < 1 << 36 else {
                throw .invalidECAMWindow(base: ecam.base, busCount: ecam.busCount)
            }
        }
        let config = PCIConfigSpace(
            vendorID: model.vendorID, deviceID: model.deviceID, classCode: .hostBridge,
            revisionID: model.revisionID, subsystemVendorID: subsystemVendorID, subsystemID: subsystemID)
        for i in 0..<7 { config.setWritableMask(i == 0 ? 0x30 : 0x33, at: model.pam0 + i, size: 1) }
        // SMRAM: C_BASE_SEG reads 010b (A/B segment); D_OPEN, D_CLS, D_LCK, G_SMRAME writable.
        config.store(0x02, at: model.smram, size: 1)
        config.setWritableMask(0x78, at: model.smram, size: 1)
        if model == .q35 {
            let lengthCode: UInt32 = switch ecam?.busCount { case 128: 1; case 64: 2; default: 0 }
            let base = ecam?.base ?? 0xB000_0000  // QEMU's reset value, disabled
            config.store(UInt32(truncatingIfNeeded: base) | lengthCode << 1 | (ecam == nil ? 0 : 1), at: Self.q35PCIEXBAR, size: 4)
            config.store(UInt32(truncatingIfNeeded: base >> 32), at: Self.q35PCIEXBAR + 4, size: 4)
            config.setWritableMask(0xFC00_0007, at: Self.q35PCIEXBAR, size: 4)
            config.setWritableMask(0x0000_000F, at: Self.q35PCIEXBAR + 4, size: 4)
        }

        self.bus = bus
        self.model = model
        self.function = PCIHostBridgeFunction(configSpace: config)
        self.ecam = Mutex(nil)
        self.chipsetRegisterWrites = chipsetRegisterWrites
        self.logger = logger
        function.owner.withLock { $0.bridge = self }

        let ports = bus.dispatcher.ports
        do {
            try ports.register(
                base: Self.configAddressPort, length: 8, name: "PCI conf1",
                handler: PCIConfigMechanism1(bridge: self, resetControl: resetControl))
        } catch {
            throw .registration(error)
        }
        if let ecam {
            do {
                try bus.dispatcher.memory.register(
                    base: ecam.base, length: ecam.length, name: "PCI ECAM", handler: PCIECAMHandler(bus: bus))
            } catch {
                try? ports.unregister(base: Self.configAddressPort)
                throw .registration(error)
            }
            self.ecam.withLock { $0 = ecam }
        }
        do {
            try bus.attach(function, device: 0, function: 0)
        } catch {
            try? ports.unregister(base: Self.configAddressPort)
            if let ecam { try? bus.dispatcher.memory.unregister(base: ecam.base) }
            throw error
        }
    }

    deinit {
        try? bus.dispatcher.ports.unregister(base: Self.configAddressPort)
        if let window = ecam.withLock({ $0 }) { try? bus.dispatcher.memory.unregister(base: window.base) }
    }

    /// Resets the bridge's own registers after its bus reset them (``PCIBus/systemReset()``):
    /// CONFIG_ADDRESS to 0, and on Q35 the ECAM window where the reset PCIEXBAR puts it.
    public func systemReset() {
        configAddress = 0
        if model == .q35 { updatePCIEXBAR() }
    }

    /// The ECAM window currently decoded, if any.
    public var ecamWindow: PCIECAMWindow? { ecam.withLock { $0 } }

    /// CONFIG_ADDRESS (port 0xCF8): reserved bits 30:24 and 1:0 read as zero.
    public var configAddress: UInt32 {
        get { address.load(ordering: .acquiring) }
        set { address.store(newValue & 0x80FF_FFFC, ordering: .releasing) }
    }

    /// A CONFIG_DATA access of `size` bytes at port `0xCFC + byte`.
    func configDataRead(byte: Int, size: Int) -> UInt32 {
        let a = configAddress
        guard a & 0x8000_0000 != 0 else { return PCIConfigSpace.allOnes(size) }
        return bus.readConfig(
            bus: UInt8(truncatingIfNeeded: a >> 16), device: UInt8(truncatingIfNeeded: a >> 11) & 0x1F,
            function: UInt8(truncatingIfNeeded: a >> 8) & 0x7, register: Int(a & 0xFC) + byte, size: size)
    }

    func configDataWrite(byte: Int, size: Int, value: UInt32) {
        let a = configAddress
        guard a & 0x8000_0000 != 0 else { return }
        bus.writeConfig(
            bus: UInt8(truncatingIfNeeded: a >> 16), device: UInt8(truncatingIfNeeded: a >> 11) & 0x1F,
            function: UInt8(truncatingIfNeeded: a >> 8) & 0x7, register: Int(a & 0xFC) + byte, size: size,
            value: value)
    }

    /// A guest wrote the bridge's configuration space.
    func configWritten(at offset: Int, size: Int, value: UInt32) {
        let pciexbar = Self.q35PCIEXBAR..<(Self.q35PCIEXBAR + 8)
        if model == .q35, pciexbar.overlaps(offset..<(offset + size)) { updatePCIEXBAR() }
        chipsetRegisterWrites?(offset, size, value)
    }

    /// Re-decodes PCIEXBAR and moves the ECAM window (Intel 3 Series chipset MCH datasheet, PCIEXBAR).
    private func updatePCIEXBAR() {
        let config = function.configSpace
        let value = UInt64(config.read(at: Self.q35PCIEXBAR, size: 4))
            | UInt64(config.read(at: Self.q35PCIEXBAR + 4, size: 4)) << 32
        var window: PCIECAMWindow?
        if value & 1 != 0 {
            let decode: (buses: Int, mask: UInt64)? =
                switch (value >> 1) & 3 {
                case 0: (256, 0xF_F000_0000)
                case 1: (128, 0xF_F800_0000)
                case 2: (64, 0xF_FC00_0000)
                default: nil  // reserved length: decode nothing
                }
            if let decode { window = try? PCIECAMWindow(base: value & decode.mask, busCount: decode.buses) }
        }
        moveECAM(to: window)
    }

    private func moveECAM(to window: PCIECAMWindow?) {
        let memory = bus.dispatcher.memory
        ecam.withLock { current in
            guard current != window else { return }
            if let old = current {
                do { try memory.unregister(base: old.base) } catch { logger.error("unmapping \(old): \(error)") }
                current = nil
            }
            guard let window else { return }
            do {
                try memory.register(base: window.base, length: window.length, name: "PCI ECAM", handler: PCIECAMHandler(bus: bus))
                current = window
            } catch {
                logger.warning("\(window) left unmapped: \(error)")
            }
        }
    }
}

/// Function 00.0 of a ``PCIHostBridge``: no BARs; configuration writes go to the bridge.
public final class PCIHostBridgeFunction: PCIConfigHooks {
    /// The bridge's header and chipset registers.
    public let configSpace: PCIConfigSpace

    struct Owner { weak var bridge: PCIHostBridge? }
    let owner = Mutex(Owner())

    init(configSpace: PCIConfigSpace) { self.configSpace = configSpace }

    /// The bridge has no BARs; never called by the bus.
    public func readBAR(_ bar: Int, offset: UInt64, size: Int) -> UInt64 { IORequest.mask(forSize: size) }
    /// The bridge has no BARs; never called by the bus.
    public func writeBAR(_ bar: Int, offset: UInt64, size: Int, value: UInt64) {}
    /// Every register reads from configuration space.
    public func configRead(at offset: Int, size: Int) -> UInt32? { nil }

    /// Forwards to the bridge (PCIEXBAR, chipset register observer).
    public func configWritten(at offset: Int, size: Int, value: UInt32) {
        owner.withLock { $0.bridge }?.configWritten(at: offset, size: size, value: value)
    }
}
