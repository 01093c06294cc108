import DeviceModel

/// A register-level virtio driver for tests, doing what Linux's virtio core, `virtio_ring.c`
/// and the virtio-mmio / virtio-pci drivers do — through the transport's registers and
/// guest RAM only, so a device under test cannot tell it from a guest.
///
/// Typical use (the §3.1.1 sequence, then one request):
///
/// ```swift
/// let machine = try SimulatedMachine()
/// let irq = try machine.interruptLine(gsi: 5)
/// let mmio = try VirtioMMIOTransport(device: myDevice, memory: machine.memory, interrupt: irq)
/// try mmio.register(in: machine.dispatcher.memory, at: 0xD000_0000, ioEvents: machine.ioEvents)
/// let driver = try VirtioTestDriver(machine: machine,
///                                   transport: try VirtioMMIOTestTransport(machine: machine, base: 0xD000_0000),
///                                   line: irq)
/// try driver.initialize(features: VirtioTestSpec.Feature.version1 | myFeatures)
/// let q = try driver.setupQueue(0)
/// try driver.driverOK()
/// try q.submit(readable: [request], writable: [512])
/// try driver.kick(q)
/// let done = try driver.waitForUsed(q)
/// ```
///
/// Not thread-safe: one test thread drives it, as one vCPU would. Waiting never blocks
/// forever: every wait has a timeout and throws ``VirtioTestDriverError/timeout(_:)``.
public final class VirtioTestDriver {
    /// The register interface the driver talks to.
    public let transport: any VirtioTestTransport
    /// Guest RAM, where the rings and buffers live.
    public let memory: any GuestMemory
    /// Guest RAM the driver allocates rings, tables and buffers from.
    public let arena: VirtioTestArena
    /// Where interrupts are observed; the MSI controller is needed for MSI-X, the line is
    /// optional for wired interrupts (without it the driver polls the status register).
    public let interrupts: VirtioTestInterruptSource
    /// The features negotiated by ``initialize(features:)``.
    public private(set) var features: UInt64 = 0
    /// The queues set up since the last reset, by index.
    public private(set) var queues: [Int: VirtioTestQueue] = [:]
    /// The configuration-change MSI-X vector in use, if any.
    public private(set) var configVector: UInt16?
    private var messagesSeen = 0
    // Wired interrupts the driver acknowledged while waiting, not yet taken by the test.
    private var acknowledged: [VirtioTestInterrupt] = []

    /// A driver over `transport`, allocating from `arena` (which must be guest RAM the
    /// device may access).
    public init(transport: any VirtioTestTransport, memory: any GuestMemory, arena: Range<UInt64>,
                interrupts: VirtioTestInterruptSource = VirtioTestInterruptSource()) {
        self.transport = transport
        self.memory = memory
        self.arena = VirtioTestArena(range: arena)
        self.interrupts = interrupts
        self.messagesSeen = interrupts.messages.count
    }

    /// A driver on a ``SimulatedMachine``: its arena (`arenaSize` bytes) comes from the
    /// machine's allocator, MSI-X messages from `machine.msi`, wired interrupts from `line`.
    public convenience init(machine: SimulatedMachine, transport: any VirtioTestTransport,
                            line: RecordingInterruptLine? = nil, arenaSize: Int = 4 << 20) throws(VirtioTestDriverError) {
        let region: GuestAllocation
        do { region = try machine.allocator.allocate(arenaSize, alignment: 4096) } catch {
            throw .arenaExhausted(requested: arenaSize)
        }
        self.init(transport: transport, memory: machine.memory, arena: region.address..<region.end,
                  interrupts: VirtioTestInterruptSource(line: line, msi: machine.msi))
    }

    // MARK: Status and initialisation (§3.1.1)

    /// The device status register.
    public var status: UInt8 { transport.readStatus() }

    /// Sets `bits` in the status register on top of what it reads (`virtio_add_status`).
    public func addStatus(_ bits: UInt8) {
        transport.writeStatus(transport.readStatus() | bits)
    }

    /// Writes 0 to the status register and waits until it reads 0 (§2.4: a reset is
    /// complete when status reads 0). Forgets the queues and frees their rings.
    public func reset(timeout: Duration = .seconds(5)) throws(VirtioTestDriverError) {
        transport.writeStatus(0)
        let deadline = ContinuousClock.now + timeout
        while transport.readStatus() != 0 {
            guard ContinuousClock.now < deadline else { throw .timeout("device status to read 0 after reset") }
            idle()
        }
        for q in queues.values { arena.release(q.placement.descriptorTable) }
        queues = [:]
        features = 0
        configVector = nil
        acknowledged = []
        messagesSeen = interrupts.messages.count
    }

    /// Steps 1–6 of §3.1.1 as Linux's `virtio_dev_probe` does them: reset, ACKNOWLEDGE,
    /// DRIVER, read the device features, accept `offered & wanted`, and — unless the
    /// interface is legacy — set FEATURES_OK and check that it stuck (otherwise set FAILED
    /// and throw ``VirtioTestDriverError/featuresRefused(offered:requested:)``).
    /// Returns the negotiated features.
    @discardableResult
    public func initialize(features wanted: UInt64) throws(VirtioTestDriverError) -> UInt64 {
        try reset()
        addStatus(VirtioTestSpec.Status.acknowledge)
        addStatus(VirtioTestSpec.Status.driver)
        let offered = transport.readDeviceFeatures()
        return try negotiate(exactly: offered & wanted, offered: offered)
    }

    /// Writes exactly `features` as the driver features (even bits the device did not
    /// offer) and sets FEATURES_OK on a modern interface; throws if the device refuses.
    /// For feature-negotiation tests; ``initialize(features:)`` is the normal path.
    @discardableResult
    public func negotiate(exactly features: UInt64, offered: UInt64? = nil) throws(VirtioTestDriverError) -> UInt64 {
        transport.writeDriverFeatures(features)
        if !transport.isLegacy {
            addStatus(VirtioTestSpec.Status.featuresOK)
            guard transport.readStatus() & VirtioTestSpec.Status.featuresOK != 0 else {
                addStatus(VirtioTestSpec.Status.failed)
                throw .featuresRefused(offered: offered ?? transport.readDeviceFeatures(), requested: features)
            }
        }
        self.features = features
        return features
    }

    /// Allocates and programs queue `index` (`vm_setup_vq` / `setup_vq`): checks that it is
    /// not enabled, reads its maximum size (`size` is ignored where the interface fixes it),
    /// lays the rings out as Linux does (contiguous;
    /// used ring aligned to 4096 on legacy interfaces, 64 otherwise), zeroes them and
    /// enables the queue. With MSI-X, `msixVector` (default: `index + 1`; vector 0 is for
    /// configuration changes) must be accepted by the device.
    @discardableResult
    public func setupQueue(_ index: Int, size: UInt16? = nil, msixVector: UInt16? = nil) throws(VirtioTestDriverError) -> VirtioTestQueue {
        guard !transport.queueEnabled(index) else { throw .queueInUse(index) }
        let maximum = transport.queueMaxSize(index)
        guard maximum > 0 else { throw .queueUnavailable(index) }
        let requested = transport.queueSizeIsFixed ? maximum : UInt32(size ?? UInt16.max)
        let n = UInt64(min(requested, maximum, UInt32(UInt16.max)))
        let alignment: UInt64 = transport.isLegacy ? transport.legacyAlignment : 64
        let availOffset = 16 * n
        let usedOffset = (availOffset + 6 + 2 * n + alignment - 1) & ~(alignment - 1)
        let total = Int(usedOffset + 6 + 8 * n)
        let base = try arena.allocate(total, alignment: 4096)
        do { try memory.fill(0, at: base, length: total) } catch {
            arena.release(base)
            throw .memory(error)
        }
        let placement = VirtioTestRingPlacement(size: UInt32(n), descriptorTable: base,
                                                availRing: base + availOffset, usedRing: base + usedOffset)
        var vector: UInt16? = nil
        if transport.usesMSIX {
            if configVector == nil { try assignConfigVector() }
            vector = msixVector ?? UInt16(truncatingIfNeeded: index + 1)
        }
        let accepted = transport.configureQueue(index, placement: placement, msixVector: vector)
        if let vector, accepted != vector {
            arena.release(base)
            throw .vectorRefused(queue: index, vector: vector)
        }
        let queue = VirtioTestQueue(index: index, placement: placement,
                                    eventIndex: features & VirtioTestSpec.Feature.eventIndex != 0,
                                    indirectDescriptors: features & VirtioTestSpec.Feature.indirectDescriptors != 0,
                                    memory: memory, arena: arena)
        queues[index] = queue
        return queue
    }

    /// With MSI-X, routes configuration changes to `vector` (`msix_config`, Linux uses 0)
    /// and checks the device accepted it. ``setupQueue(_:size:msixVector:)`` does this for
    /// the first queue; call it directly when programming queues by hand.
    public func assignConfigVector(_ vector: UInt16 = 0) throws(VirtioTestDriverError) {
        guard transport.usesMSIX else { return }
        guard transport.setConfigVector(vector) == vector else { throw .vectorRefused(queue: nil, vector: vector) }
        configVector = vector
    }

    /// Sets DRIVER_OK (§3.1.1 step 8): the device is live.
    public func driverOK() {
        addStatus(VirtioTestSpec.Status.driverOK)
    }

    /// ``initialize(features:)``, ``setupQueue(_:size:msixVector:)`` for each of `queues`,
    /// then ``driverOK()``. Returns the queues in the order given.
    @discardableResult
    public func start(features wanted: UInt64, queues indices: [Int], size: UInt16? = nil) throws(VirtioTestDriverError) -> [VirtioTestQueue] {
        try initialize(features: wanted)
        var out: [VirtioTestQueue] = []
        for i in indices { out.append(try setupQueue(i, size: size)) }
        driverOK()
        return out
    }

    // MARK: Notifications

    /// Notifies the device about `queue` unconditionally.
    public func notify(_ queue: VirtioTestQueue) {
        transport.notify(queue: queue.index)
    }

    /// `virtqueue_kick`: notifies the device if it asked to be notified for the entries
    /// added since the last kick. Returns whether it notified.
    @discardableResult
    public func kick(_ queue: VirtioTestQueue) throws(VirtioTestDriverError) -> Bool {
        guard try queue.kickNeeded() else { return false }
        transport.notify(queue: queue.index)
        return true
    }

    // MARK: Waiting

    /// Collects used elements of `queue` until at least `count` arrived (the device may
    /// complete asynchronously on its own thread).
    public func waitForUsed(_ queue: VirtioTestQueue, count: Int = 1,
                            timeout: Duration = .seconds(5)) throws(VirtioTestDriverError) -> [VirtioTestCompletion] {
        let deadline = ContinuousClock.now + timeout
        var out: [VirtioTestCompletion] = []
        while true {
            out += try queue.takeUsed()
            if out.count >= count { return out }
            guard ContinuousClock.now < deadline else {
                throw .timeout("\(count) used element(s) on queue \(queue.index), got \(out.count)")
            }
            idle()
        }
    }

    /// Waits until the status register has all of `bits` (e.g. DEVICE_NEEDS_RESET).
    public func waitForStatus(_ bits: UInt8, timeout: Duration = .seconds(5)) throws(VirtioTestDriverError) {
        let deadline = ContinuousClock.now + timeout
        while transport.readStatus() & bits != bits {
            guard ContinuousClock.now < deadline else {
                throw .timeout("status bits 0x\(String(bits, radix: 16)) (status 0x\(String(transport.readStatus(), radix: 16)))")
            }
            idle()
        }
    }

    /// Takes the next interrupt as Linux's handler would and returns its cause: the next
    /// unseen MSI-X message (mapped to its vector), or — for wired interrupts — the
    /// acknowledged InterruptStatus / ISR bits (first those the driver already acknowledged
    /// while waiting for something else). `nil` if nothing is pending.
    public func takeInterrupt() -> VirtioTestInterrupt? {
        if !acknowledged.isEmpty { return acknowledged.removeFirst() }
        if transport.usesMSIX {
            let messages = interrupts.messages
            guard messagesSeen < messages.count else { return nil }
            let message = messages[messagesSeen]
            messagesSeen += 1
            let vector = transport.msixVector(of: message)
            let isConfig = vector != nil && vector == configVector
            return VirtioTestInterrupt(usedBuffers: !isConfig, configChange: isConfig, msixVector: vector)
        }
        let cause = transport.acknowledgeInterrupt()
        return cause.usedBuffers || cause.configChange ? cause : nil
    }

    /// Waits for the next interrupt (see ``takeInterrupt()``).
    public func waitForInterrupt(timeout: Duration = .seconds(5)) throws(VirtioTestDriverError) -> VirtioTestInterrupt {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let cause = takeInterrupt() { return cause }
            guard ContinuousClock.now < deadline else { throw .timeout("an interrupt") }
            idle()
        }
    }

    /// Number of MSI-X messages not yet taken by ``takeInterrupt()``.
    public var pendingMessages: Int { max(0, interrupts.messages.count - messagesSeen) }

    // Between polls: sleep until interrupt activity, briefly (completions without an
    // interrupt — suppressed ones — are found by the next poll). A wired line that is still
    // asserted would never change again, so it is handled first as Linux's interrupt handler
    // would (InterruptStatus/ISR read and acknowledged); ``takeInterrupt()`` returns it later.
    private func idle() {
        if !transport.usesMSIX, interrupts.lineAsserted {
            let cause = transport.acknowledgeInterrupt()
            if cause.usedBuffers || cause.configChange { acknowledged.append(cause) }
        }
        interrupts.waitForActivity(messages: transport.usesMSIX, timeout: .milliseconds(2))
    }

    // MARK: Configuration space (§2.5)

    /// Reads `size` bytes at `offset` of the device configuration (little-endian).
    public func readConfig(offset: Int, size: Int) -> UInt64 {
        transport.readConfig(offset: offset, size: size)
    }

    /// Writes `size` bytes of `value` at `offset` of the device configuration.
    public func writeConfig(offset: Int, size: Int, value: UInt64) {
        transport.writeConfig(offset: offset, size: size, value: value)
    }

    /// Reads `count` bytes consistently: repeats while `config_generation` changes across the
    /// read (`virtio_cread_bytes`), up to `attempts` times.
    public func readConfigBytes(offset: Int, count: Int, attempts: Int = 100) throws(VirtioTestDriverError) -> [UInt8] {
        for _ in 0..<attempts {
            let before = transport.configGeneration()
            var bytes: [UInt8] = []
            var at = 0
            while at < count {
                let n = count - at >= 4 ? 4 : 1
                let v = transport.readConfig(offset: offset + at, size: n)
                for i in 0..<n { bytes.append(UInt8(truncatingIfNeeded: v >> UInt64(8 * i))) }
                at += n
            }
            if transport.configGeneration() == before { return bytes }
        }
        throw .timeout("a stable configuration generation")
    }

    /// The configuration generation counter.
    public var configGeneration: UInt32 { transport.configGeneration() }
}
