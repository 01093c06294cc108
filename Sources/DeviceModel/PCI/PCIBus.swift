import Logging
import Synchronization

/// One PCI bus: 32 slots × 8 functions, their configuration accesses, BAR placement and INTx.
///
/// - Configuration: ``readConfig(bus:device:function:register:size:)`` and
///   ``writeConfig(bus:device:function:register:size:value:)`` are what the host bridge's
///   conf1 and ECAM decoders call; the bus also registers itself in the dispatcher's
///   `pciConfig` space so Xen-style `(SBDF << 32) | register` requests reach it directly.
///   Absent functions read all ones and ignore writes (master abort, PCI Local Bus 3.0 §6.1).
/// - BARs: after every write to a function's command register or BARs, the bus brings the
///   dispatcher's `memory`/`ports` registrations in line with what the function decodes
///   (``PCIConfigSpace/decodedBARs()``). A BAR that would overlap another range is logged and
///   left unmapped, never fatal.
/// - INTx: each function's pin goes to a GSI chosen by ``PCIINTxRouting``, wired-OR with the
///   other functions on that GSI.
///
/// The dispatcher holds the bus only weakly: keep a reference for as long as the machine runs;
/// when the bus goes away, its registrations go with it.
public final class PCIBus: Sendable {
    /// The PCI segment (domain) this bus belongs to.
    public let segment: UInt16
    /// The bus number; configuration accesses for other buses read all ones.
    public let number: UInt8
    /// Where BARs and configuration ranges are registered.
    public let dispatcher: IODispatcher

    private let router: PCIINTxRouter?
    private let routing: PCIINTxRouting
    private let logger: Logger
    /// Indexed by devfn.
    private let functions = Mutex<[(any PCIFunction)?]>(Array(repeating: nil, count: 256))
    /// Current dispatcher registrations, by devfn and BAR index. Held while (un)registering so
    /// that concurrent config writes apply in order.
    private let mappings = Mutex<[UInt8: [Int: PCIBARMapping]]>([:])

    /// Creates bus `number` of `segment` and registers its `pciConfig` range.
    ///
    /// - Parameters:
    ///   - interruptLines: where INTx goes; `nil` leaves INTx unconnected.
    ///   - intxRouting: the slot/pin → GSI rule; by default the standard swizzle onto GSIs
    ///     16–19 (the IOAPIC inputs QEMU wires to PIRQ A–D).
    public init(
        segment: UInt16 = 0, number: UInt8 = 0, dispatcher: IODispatcher,
        interruptLines: (any InterruptLineProvider)? = nil,
        intxRouting: PCIINTxRouting = .swizzled((16, 17, 18, 19)),
        logger: Logger = Logger(label: "swiftdm.pci")
    ) throws(PCIError) {
        self.segment = segment
        self.number = number
        self.dispatcher = dispatcher
        self.routing = intxRouting
        self.logger = logger
        router = interruptLines.map { PCIINTxRouter(provider: $0, logger: logger) }
        let base = UInt64(UInt32(segment) << 16 | UInt32(number) << 8) << 32
        do {
            try dispatcher.pciConfig.register(
                base: base, length: 256 << 32, name: "PCI bus \(segment):\(number)", handler: PCIBusConfigHandler(bus: self))
        } catch {
            throw .registration(error)
        }
    }

    deinit {
        // Leave the dispatcher as if the bus had never been there.
        try? dispatcher.pciConfig.unregister(base: UInt64(UInt32(segment) << 16 | UInt32(number) << 8) << 32)
        for mapping in mappings.withLock({ $0.values.flatMap(\.values) }) {
            try? dispatcher.addressSpace(mapping.space).unregister(base: mapping.range.base)
        }
    }

    // MARK: Functions

    /// Plugs `function` in at `device`.`functionNumber`.
    ///
    /// Sets the multi-function bit of function 0 when the slot holds more than one function
    /// (§6.2.1, so that enumeration looks past function 0), connects the INTx pin (set
    /// ``PCIConfigSpace/interruptPin`` before attaching), and maps BARs the function already
    /// decodes.
    public func attach(_ function: any PCIFunction, device: UInt8, function functionNumber: UInt8 = 0) throws(PCIError) {
        guard let address = PCIAddress(segment: segment, bus: number, device: device, function: functionNumber) else {
            throw .invalidAddress(device: device, function: functionNumber)
        }
        let config = function.configSpace
        let pin = config.interruptPin
        var wire: PCIINTxWire?
        if let router, pin != .none {
            do { wire = try router.wire(gsi: routing.gsi(device, pin)) } catch { throw .interruptRouting(error) }
        }
        try functions.withLock { (slots: inout [(any PCIFunction)?]) throws(PCIError) in
            let devfn = Int(address.devfn)
            guard slots[devfn] == nil else { throw .slotOccupied(device: device, function: functionNumber) }
            slots[devfn] = function
            let first = Int(device) << 3
            let populated = (first..<(first + 8)).filter { slots[$0] != nil }
            if populated.count > 1, let zero = slots[first] { zero.configSpace.isMultiFunction = true }
        }
        if let wire {
            config.connectINTx { asserted in wire.set(asserted: asserted) }
        }
        config.recordPowerOnState()
        remap(address.devfn, function)
    }

    /// Resets every function on the bus as the platform's RST# does: configuration space back
    /// to its state at attach (``PCIConfigSpace`` keeps read-only bits, clears command, BARs,
    /// MSI-X), then the BARs placed again — with decoding off, that unmaps them and tells
    /// ``PCIBARObserver``s, so a virtio function drops its notify ioeventfds. The devices
    /// behind the functions reset themselves (``SystemResettable``).
    public func systemReset() {
        let all: [(devfn: UInt8, function: any PCIFunction)] = functions.withLock { slots in
            slots.indices.compactMap { i in slots[i].map { (UInt8(i), $0) } }
        }
        for (devfn, function) in all {
            function.configSpace.resetToPowerOn()
            remap(devfn, function)
        }
    }

    /// The function at `device`.`function`, if any.
    public func function(device: UInt8, function: UInt8) -> (any PCIFunction)? {
        guard device < 32, function < 8 else { return nil }
        return functions.withLock { $0[Int(device) << 3 | Int(function)] }
    }

    /// The lowest slot with no function 0, for machines that place devices automatically.
    public var firstFreeSlot: UInt8? {
        functions.withLock { slots in (0..<32).first { slots[$0 << 3] == nil }.map { UInt8($0) } }
    }

    /// Where `device`.`function`'s BARs are currently registered in the dispatcher.
    public func mappings(device: UInt8, function: UInt8) -> [PCIBARMapping] {
        guard device < 32, function < 8 else { return [] }
        let devfn = device << 3 | function
        return mappings.withLock { ($0[devfn] ?? [:]).values.sorted { $0.bar < $1.bar } }
    }

    // MARK: Configuration accesses

    /// A guest configuration read of `size` (1, 2 or 4) bytes at `register` of
    /// `bus`:`device`.`function`. Other buses, absent functions, registers beyond the
    /// function's configuration space and dword-crossing accesses read all ones.
    public func readConfig(bus: UInt8, device: UInt8, function: UInt8, register: Int, size: Int) -> UInt32 {
        guard bus == number, let f = self.function(device: device, function: function) else {
            return PCIConfigSpace.allOnes(size)
        }
        return f.guestConfigRead(at: register, size: size)
    }

    /// A guest configuration write; dropped where ``readConfig(bus:device:function:register:size:)``
    /// reads all ones. Writes touching the command register or a BAR re-place the BARs.
    public func writeConfig(bus: UInt8, device: UInt8, function: UInt8, register: Int, size: Int, value: UInt32) {
        guard bus == number, let f = self.function(device: device, function: function) else { return }
        f.guestConfigWrite(at: register, size: size, value: value)
        let touched = register..<(register + max(size, 1))
        let command = PCIRegister.command..<(PCIRegister.command + 2)
        let bars = PCIRegister.bar0..<(PCIRegister.bar0 + 24)
        if touched.overlaps(command) || touched.overlaps(bars) {
            remap(device << 3 | function, f)
        }
    }

    // MARK: BAR placement

    /// Places the BARs of a function whose configuration space was restored wholesale.
    func remapAfterRestore(_ devfn: UInt8, _ function: any PCIFunction) { remap(devfn, function) }

    /// Brings the dispatcher in line with the BARs `function` decodes now.
    private func remap(_ devfn: UInt8, _ function: any PCIFunction) {
        let name = "\(PCIAddress(segment: segment, bus: number, device: devfn >> 3, function: devfn & 7).map { "\($0)" } ?? "?")"
        mappings.withLock { all in
            let current = all[devfn] ?? [:]
            let desired = Dictionary(uniqueKeysWithValues: function.configSpace.decodedBARs().map { ($0.bar, $0) })
            var next = current
            for (bar, mapping) in current where desired[bar] != mapping {
                do {
                    try dispatcher.addressSpace(mapping.space).unregister(base: mapping.range.base)
                } catch {
                    logger.error("\(name) BAR\(bar): unmapping \(mapping.range): \(error)")
                }
                next[bar] = nil
            }
            for (bar, mapping) in desired.sorted(by: { $0.key < $1.key }) where next[bar] == nil {
                do {
                    try dispatcher.addressSpace(mapping.space).register(
                        base: mapping.range.base, length: mapping.range.length, name: "\(name) BAR\(bar)",
                        handler: PCIBARRegionHandler(function: function, bar: bar))
                    next[bar] = mapping
                } catch {
                    logger.warning("\(name) BAR\(bar) left unmapped: \(error)")
                }
            }
            all[devfn] = next
            if let observer = function as? any PCIBARObserver {
                for bar in Set(current.keys).union(next.keys).sorted() where current[bar] != next[bar] {
                    observer.barMappingChanged(bar, to: next[bar])
                }
            }
        }
    }
}

/// Serves one BAR's range in the dispatcher.
final class PCIBARRegionHandler: IOHandler {
    weak let function: (any PCIFunction)?
    let bar: Int

    init(function: any PCIFunction, bar: Int) {
        self.function = function
        self.bar = bar
    }

    func read(at offset: UInt64, size: Int) -> UInt64 {
        function?.routeBARRead(bar, offset: offset, size: size) ?? IORequest.mask(forSize: size)
    }

    func write(at offset: UInt64, size: Int, value: UInt64) {
        function?.routeBARWrite(bar, offset: offset, size: size, value: value)
    }
}

/// Serves the bus's `pciConfig` range: `offset = devfn << 32 | register`.
final class PCIBusConfigHandler: IOHandler {
    weak let bus: PCIBus?

    init(bus: PCIBus) { self.bus = bus }

    func read(at offset: UInt64, size: Int) -> UInt64 {
        guard let bus else { return IORequest.mask(forSize: size) }
        let (device, function, register) = Self.decode(offset)
        if size == 8 {
            let low = bus.readConfig(bus: bus.number, device: device, function: function, register: register, size: 4)
            let high = bus.readConfig(bus: bus.number, device: device, function: function, register: register &+ 4, size: 4)
            return UInt64(high) << 32 | UInt64(low)
        }
        return UInt64(bus.readConfig(bus: bus.number, device: device, function: function, register: register, size: size))
    }

    func write(at offset: UInt64, size: Int, value: UInt64) {
        guard let bus else { return }
        let (device, function, register) = Self.decode(offset)
        if size == 8 {
            bus.writeConfig(bus: bus.number, device: device, function: function, register: register, size: 4, value: UInt32(truncatingIfNeeded: value))
            bus.writeConfig(bus: bus.number, device: device, function: function, register: register &+ 4, size: 4, value: UInt32(truncatingIfNeeded: value >> 32))
            return
        }
        bus.writeConfig(bus: bus.number, device: device, function: function, register: register, size: size, value: UInt32(truncatingIfNeeded: value))
    }

    private static func decode(_ offset: UInt64) -> (UInt8, UInt8, Int) {
        let devfn = UInt8(truncatingIfNeeded: offset >> 32)
        // Registers beyond 4 KiB are clamped to an invalid offset so they read all ones.
        let register = Int(min(offset & 0xFFFF_FFFF, UInt64(PCIConfigSpace.extendedSize)))
        return (devfn >> 3, devfn & 7, register)
    }
}
