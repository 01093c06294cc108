import DeviceModel
import Synchronization

// Small in-test fakes for the PCI tests (DeviceModelTesting is not a dependency yet).

/// Records every MSI it is asked to deliver.
final class PCIFakeMSIController: MSIController {
    private let log = Mutex<[MSIMessage]>([])
    var messages: [MSIMessage] { log.withLock { $0 } }
    func signal(_ message: MSIMessage) throws(InterruptError) { log.withLock { $0.append(message) } }
}

/// Records the level history of one line.
final class PCIFakeInterruptLine: InterruptLine {
    let gsi: UInt32
    private let history = Mutex<[Bool]>([])
    init(gsi: UInt32) { self.gsi = gsi }
    var levels: [Bool] { history.withLock { $0 } }
    var level: Bool { history.withLock { $0.last ?? false } }
    func setLevel(_ asserted: Bool) throws(InterruptError) { history.withLock { $0.append(asserted) } }
    func pulse() throws(InterruptError) { history.withLock { $0.append(contentsOf: [true, false]) } }
}

/// Hands out one recording line per GSI.
final class PCIFakeLineProvider: InterruptLineProvider {
    private let lines = Mutex<[UInt32: PCIFakeInterruptLine]>([:])
    func line(gsi: UInt32) throws(InterruptError) -> any InterruptLine { recording(gsi) }
    func recording(_ gsi: UInt32) -> PCIFakeInterruptLine {
        lines.withLock { l in
            if let line = l[gsi] { return line }
            let line = PCIFakeInterruptLine(gsi: gsi)
            l[gsi] = line
            return line
        }
    }
}

/// A function whose BARs are plain RAM, recording which BAR mappings it was told about.
final class TestPCIFunction: PCIBARObserver {
    let configSpace: PCIConfigSpace
    private let memory = Mutex<[Int: [UInt8]]>([:])
    private let mappingLog = Mutex<[(Int, PCIBARMapping?)]>([])

    init(vendorID: UInt16 = 0x1AF4, deviceID: UInt16 = 0x1042, extended: Bool = false) {
        configSpace = PCIConfigSpace(
            vendorID: vendorID, deviceID: deviceID, classCode: .otherMassStorage, revisionID: 1,
            subsystemVendorID: 0x1AF4, subsystemID: 0x0002, extended: extended)
    }

    var mappingChanges: [(Int, PCIBARMapping?)] { mappingLog.withLock { $0 } }

    func readBAR(_ bar: Int, offset: UInt64, size: Int) -> UInt64 {
        memory.withLock { m in
            var v: UInt64 = 0
            for i in 0..<size { v |= UInt64(m[bar]?[Int(offset) + i] ?? 0) << UInt64(8 * i) }
            return v
        }
    }

    func writeBAR(_ bar: Int, offset: UInt64, size: Int, value: UInt64) {
        memory.withLock { m in
            var bytes = m[bar] ?? Array(repeating: 0, count: Int(configSpace.bar(bar)?.size ?? 0))
            for i in 0..<size where Int(offset) + i < bytes.count {
                bytes[Int(offset) + i] = UInt8(truncatingIfNeeded: value >> UInt64(8 * i))
            }
            m[bar] = bytes
        }
    }

    func barMappingChanged(_ bar: Int, to mapping: PCIBARMapping?) {
        mappingLog.withLock { $0.append((bar, mapping)) }
    }
}

/// One dispatched access, as a vCPU would issue it.
func pciRead(_ d: IODispatcher, _ space: IOSpace, _ address: UInt64, size: Int) throws -> UInt64 {
    var r = IORequest.read(space, address, size: size)
    try d.dispatch(&r)
    return r.value ?? 0
}

func pciWrite(_ d: IODispatcher, _ space: IOSpace, _ address: UInt64, size: Int, value: UInt64) throws {
    var r = IORequest.write(space, address, size: size, value: value)
    try d.dispatch(&r)
}

/// A conf1 read of `register` at 00:`device`.`function`.
func conf1Read(_ d: IODispatcher, device: UInt8, function: UInt8 = 0, register: Int, size: Int) throws -> UInt64 {
    try pciWrite(d, .port, 0xCF8, size: 4, value: conf1Address(device, function, register))
    return try pciRead(d, .port, 0xCFC + UInt64(register & 3), size: size)
}

func conf1Write(_ d: IODispatcher, device: UInt8, function: UInt8 = 0, register: Int, size: Int, value: UInt64) throws {
    try pciWrite(d, .port, 0xCF8, size: 4, value: conf1Address(device, function, register))
    try pciWrite(d, .port, 0xCFC + UInt64(register & 3), size: size, value: value)
}

func conf1Address(_ device: UInt8, _ function: UInt8, _ register: Int) -> UInt64 {
    0x8000_0000 | UInt64(device) << 11 | UInt64(function) << 8 | UInt64(register & 0xFC)
}

/// The ECAM address of 00:`device`.`function` `register` in a window at `base`.
func ecamAddress(_ base: UInt64, device: UInt8, function: UInt8 = 0, register: Int) -> UInt64 {
    base | UInt64(device) << 15 | UInt64(function) << 12 | UInt64(register)
}

/// A dispatcher with bus 0 and a host bridge at 00.0, kept alive together.
struct PCITestMachine {
    let dispatcher: IODispatcher
    let bus: PCIBus
    let bridge: PCIHostBridge
    let lines: PCIFakeLineProvider

    init(model: PCIHostBridge.Model = .i440fx, ecam: PCIECAMWindow? = nil) throws {
        dispatcher = IODispatcher()
        lines = PCIFakeLineProvider()
        bus = try PCIBus(dispatcher: dispatcher, interruptLines: lines)
        bridge = try PCIHostBridge(bus: bus, model: model, ecam: ecam)
    }
}
