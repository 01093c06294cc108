/// Offsets of the type-0 configuration header registers (PCI Local Bus 3.0 §6.1, figure 6-1).
public enum PCIRegister {
    public static let vendorID = 0x00
    public static let deviceID = 0x02
    public static let command = 0x04
    public static let status = 0x06
    public static let revisionID = 0x08
    /// Programming interface, sub-class, base class: three bytes from here.
    public static let classCode = 0x09
    public static let cacheLineSize = 0x0C
    public static let latencyTimer = 0x0D
    public static let headerType = 0x0E
    public static let bist = 0x0F
    /// BAR 0; BAR `n` is at `bar0 + 4 * n`.
    public static let bar0 = 0x10
    public static let cardbusCIS = 0x28
    public static let subsystemVendorID = 0x2C
    public static let subsystemID = 0x2E
    public static let expansionROM = 0x30
    public static let capabilitiesPointer = 0x34
    public static let interruptLine = 0x3C
    public static let interruptPin = 0x3D
    public static let minGrant = 0x3E
    public static let maxLatency = 0x3F

    /// Where the first capability goes: right after the header.
    public static let firstCapability = 0x40
    /// The first extended capability (PCI Express Base 4.0 §7.6.3).
    public static let firstExtendedCapability = 0x100
}

/// The command register (PCI Local Bus 3.0 §6.2.2).
public struct PCICommand: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// Decode accesses to I/O BARs.
    public static let ioSpace = PCICommand(rawValue: 1 << 0)
    /// Decode accesses to memory BARs.
    public static let memorySpace = PCICommand(rawValue: 1 << 1)
    /// The function may master the bus (DMA, and MSI/MSI-X writes).
    public static let busMaster = PCICommand(rawValue: 1 << 2)
    public static let parityErrorResponse = PCICommand(rawValue: 1 << 6)
    public static let serrEnable = PCICommand(rawValue: 1 << 8)
    /// Stops the function from asserting INTx (status bit 3 still reflects its state).
    public static let interruptDisable = PCICommand(rawValue: 1 << 10)

    /// The bits a guest may change; the rest read as zero (§6.2.2 lets them be hardwired).
    public static let writable: PCICommand = [
        .ioSpace, .memorySpace, .busMaster, .parityErrorResponse, .serrEnable, .interruptDisable,
    ]
}

/// The status register (PCI Local Bus 3.0 §6.2.3).
public struct PCIStatus: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// The function's INTx is pending (read-only).
    public static let interruptStatus = PCIStatus(rawValue: 1 << 3)
    /// The capabilities pointer at 0x34 is valid (read-only).
    public static let capabilitiesList = PCIStatus(rawValue: 1 << 4)
    public static let masterDataParityError = PCIStatus(rawValue: 1 << 8)
    public static let signaledTargetAbort = PCIStatus(rawValue: 1 << 11)
    public static let receivedTargetAbort = PCIStatus(rawValue: 1 << 12)
    public static let receivedMasterAbort = PCIStatus(rawValue: 1 << 13)
    public static let signaledSystemError = PCIStatus(rawValue: 1 << 14)
    public static let detectedParityError = PCIStatus(rawValue: 1 << 15)

    /// Error bits, cleared by writing 1 (§6.2.3).
    public static let writeOneToClear: PCIStatus = [
        .masterDataParityError, .signaledTargetAbort, .receivedTargetAbort,
        .receivedMasterAbort, .signaledSystemError, .detectedParityError,
    ]
}

/// The class code register: base class, sub-class and programming interface.
public struct PCIClassCode: Sendable, Hashable {
    /// Base class (0x0B).
    public var baseClass: UInt8
    /// Sub-class (0x0A).
    public var subclass: UInt8
    /// Programming interface (0x09).
    public var programmingInterface: UInt8

    /// A class code from its three bytes.
    public init(baseClass: UInt8, subclass: UInt8, programmingInterface: UInt8 = 0) {
        self.baseClass = baseClass
        self.subclass = subclass
        self.programmingInterface = programmingInterface
    }

    /// 06 00 00: host bridge.
    public static let hostBridge = PCIClassCode(baseClass: 0x06, subclass: 0x00)
    /// 01 00 00: SCSI storage controller (virtio-blk, legacy IDs).
    public static let scsiStorage = PCIClassCode(baseClass: 0x01, subclass: 0x00)
    /// 01 80 00: other mass storage controller.
    public static let otherMassStorage = PCIClassCode(baseClass: 0x01, subclass: 0x80)
    /// 02 00 00: Ethernet controller.
    public static let ethernet = PCIClassCode(baseClass: 0x02, subclass: 0x00)
    /// 07 80 00: other communication controller (virtio-console).
    public static let otherCommunication = PCIClassCode(baseClass: 0x07, subclass: 0x80)
    /// 00 ff 00: unclassified device (virtio-rng and others in QEMU).
    public static let unclassified = PCIClassCode(baseClass: 0x00, subclass: 0xFF)
    /// ff 00 00: device does not fit any defined class.
    public static let other = PCIClassCode(baseClass: 0xFF, subclass: 0x00)
}

/// The INTx pin a function uses (interrupt pin register, PCI Local Bus 3.0 §6.2.4).
public enum PCIInterruptPin: UInt8, Sendable, Hashable, CaseIterable {
    case none = 0
    case intA = 1
    case intB = 2
    case intC = 3
    case intD = 4
}
