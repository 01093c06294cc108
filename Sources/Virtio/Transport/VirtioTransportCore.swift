import DeviceModel
import Synchronization

/// Which register interfaces a transport exposes to the driver.
enum VirtioInterfaceKind: Sendable {
    /// Virtio 1.x only (virtio-mmio version 2, modern virtio-pci): `VERSION_1` is required.
    case modern
    /// Legacy only (virtio-mmio version 1): queues are placed with `QueuePFN`.
    case legacy
    /// Both (transitional virtio-pci): a driver that does not negotiate `VERSION_1` is
    /// legacy and drives the queues with `QUEUE_PFN` (§4.1.4.8, §7).
    case transitional
}

/// How a transport raises interrupts. The core decides *when* (and picks the MSI-X vector);
/// the transport decides *how* (InterruptStatus + level line, MSI-X, ISR + INTx).
///
/// Called with the core's register lock held, so implementations must not call back into
/// the core; their own locks nest inside it.
protocol VirtioInterruptDelivery: AnyObject, Sendable {
    /// A used-buffer notification for `queue`, whose `queue_msix_vector` is `vector`.
    func deliverUsedBuffers(queue: Int, vector: UInt16)
    /// A configuration-change notification; `vector` is `msix_config`.
    func deliverConfigChange(vector: UInt16)
    /// Device reset: forget pending interrupt causes and deassert wired lines.
    func clearInterrupts()
}

/// The transport-independent half of every virtio transport: feature negotiation, device
/// status, queue registers, configuration generation, activation at `DRIVER_OK` and reset
/// (virtio 1.2 §2.1, §2.4, §3.1). Register layouts live in the transports; this type is the
/// one state machine behind all of them.
///
/// Locking: `registers` guards all driver-visible state and is held only briefly (never
/// across a call into the device). `lifecycle` serialises status transitions that call
/// the device (`activate`, `reset`) so they never interleave; device callbacks through the
/// ``VirtioInterruptSink`` take only `registers`, so a device may signal from inside
/// `activate` or while `reset` waits for its in-flight requests.
final class VirtioTransportCore<Device: VirtioDevice>: Sendable {
    struct Registers: Sendable {
        var status: UInt8 = 0
        var deviceFeatureSelect: UInt32 = 0
        var driverFeatureSelect: UInt32 = 0
        var driverFeatures: UInt64 = 0
        var queueSelect: UInt32 = 0
        var queues: [VirtioQueueRegisters]
        var configVector = VirtioQueueRegisters.noVector
        /// Legacy virtio-mmio `GuestPageSize`; a transport property that survives reset
        /// (Linux writes it once at probe, before the core resets the device).
        var legacyPageSize: UInt32 = Registers.powerOnLegacyPageSize
        static var powerOnLegacyPageSize: UInt32 { 4096 }
        var configGeneration: UInt32 = 0
        /// The configuration bytes the driver last could have seen; a difference on the next
        /// read bumps `configGeneration` (§2.5.1: the driver must be able to detect torn reads).
        var lastConfig: [UInt8]
        /// Incremented on every reset; interrupt sinks of older activations are ignored.
        var epoch: UInt64 = 0
        var needsResetReason: VirtioTransportError?
    }

    let device: Device
    let memory: any GuestMemory
    let interface: VirtioInterfaceKind
    /// What the driver sees in the device feature bits: the device's offer minus what the
    /// transports do not implement (packed rings, per-queue reset, notification data, SR-IOV),
    /// and minus `VERSION_1` on a legacy-only interface.
    let offeredFeatures: UInt64
    /// One notifier per queue: the target of the queue's notify ioeventfd and of notify
    /// register writes that reach the handler; handed to the device as `kick`.
    let kicks: [EventNotifier]
    /// Number of MSI-X table entries (0 for transports without MSI-X).
    let msixVectorCount: Int
    /// The transport's interrupt state (it never references the core, so no cycle).
    let delivery: any VirtioInterruptDelivery

    private let registers: Mutex<Registers>
    /// Serialises status transitions that call the device; holds what the running device was
    /// activated with, so it can be stopped at a safe point and started again where it was
    /// (``quiesce()``, ``resume()``, device-state restore).
    private let lifecycle = Mutex<Activity>(Activity())

    struct Activity {
        /// The plan of the running activation and its queues, while the device runs.
        var plan: ActivationPlan?
        var queues: [Int: SplitVirtqueue] = [:]
        /// Where each queue stopped, while quiesced.
        var stoppedAt: [Int: (avail: UInt16, used: UInt16)]?
        /// The device's own state when it was quiesced (a device that keeps state across its
        /// activation, such as a NIC's receive filter, gets it back on ``resume()``).
        var deviceState: DeviceStateRecord?
    }

    static var unsupportedFeatures: UInt64 {
        VirtioFeature.ringPacked | VirtioFeature.ringReset | VirtioFeature.notificationData | VirtioFeature.srIOV
    }

    init(device: Device, memory: any GuestMemory, interface: VirtioInterfaceKind, msixVectorCount: Int,
         delivery: any VirtioInterruptDelivery) throws(VirtioTransportError) {
        self.device = device
        self.memory = memory
        self.interface = interface
        self.msixVectorCount = msixVectorCount
        self.delivery = delivery
        var offered = device.offeredFeatures & ~Self.unsupportedFeatures
        if interface == .legacy { offered &= ~VirtioFeature.version1 }
        self.offeredFeatures = offered
        var kicks: [EventNotifier] = []
        for _ in device.queueMaxSizes {
            do { kicks.append(try EventNotifier()) } catch { throw .notifier(error) }
        }
        self.kicks = kicks
        self.registers = Mutex(Registers(queues: device.queueMaxSizes.map { VirtioQueueRegisters(maxSize: $0) },
                                         lastConfig: device.readConfig()))
    }

    var queueCount: Int { kicks.count }

    // MARK: Features (§2.2, §3.1.1)

    /// The 32 device feature bits selected by `device_feature_select`.
    var deviceFeatureWord: UInt32 {
        registers.withLock { Self.word(offeredFeatures, select: $0.deviceFeatureSelect) }
    }

    var deviceFeatureSelect: UInt32 {
        get { registers.withLock { $0.deviceFeatureSelect } }
        set { registers.withLock { $0.deviceFeatureSelect = newValue } }
    }

    var driverFeatureSelect: UInt32 {
        get { registers.withLock { $0.driverFeatureSelect } }
        set { registers.withLock { $0.driverFeatureSelect = newValue } }
    }

    /// The 32 driver feature bits selected by `driver_feature_select`.
    var driverFeatureWord: UInt32 {
        registers.withLock { Self.word($0.driverFeatures, select: $0.driverFeatureSelect) }
    }

    /// Writes the driver feature word selected by `driver_feature_select` (or word 0 for the
    /// legacy `GUEST_FEATURES` register). Ignored once `FEATURES_OK` or `DRIVER_OK` is set:
    /// the negotiated set is frozen (§3.1.1).
    func writeDriverFeatureWord(_ value: UInt32, legacyWordZero: Bool = false) {
        registers.withLock { r in
            guard r.status & (VirtioDeviceStatus.featuresOK.rawValue | VirtioDeviceStatus.driverOK.rawValue) == 0 else { return }
            let select = legacyWordZero ? 0 : r.driverFeatureSelect
            guard select < 2 else { return }
            let shift = UInt64(select) * 32
            r.driverFeatures = r.driverFeatures & ~(0xFFFF_FFFF << shift) | UInt64(value) << shift
        }
    }

    /// The features the driver has accepted so far.
    var driverFeatures: UInt64 { registers.withLock { $0.driverFeatures } }

    private static func word(_ features: UInt64, select: UInt32) -> UInt32 {
        select < 2 ? UInt32(truncatingIfNeeded: features >> (UInt64(select) * 32)) : 0
    }

    /// §3.1.1 step 5/6: the driver may only accept offered features, and a modern device
    /// refuses a driver that does not accept `VERSION_1`.
    private func acceptable(_ features: UInt64) -> Bool {
        guard features & ~offeredFeatures == 0 else { return false }
        return offeredFeatures & VirtioFeature.version1 == 0 || features & VirtioFeature.version1 != 0
    }

    private func usesLegacyInterface(_ features: UInt64) -> Bool {
        switch interface {
        case .modern: false
        case .legacy: true
        case .transitional: features & VirtioFeature.version1 == 0
        }
    }

    // MARK: Queue registers

    var queueSelect: UInt32 {
        get { registers.withLock { $0.queueSelect } }
        set { registers.withLock { $0.queueSelect = newValue } }
    }

    /// Reads from the selected queue's registers; `fallback` when `queue_select` names no queue.
    func readSelectedQueue<T>(_ fallback: T, _ body: (VirtioQueueRegisters) -> T) -> T {
        let queue: VirtioQueueRegisters? = registers.withLock { r in
            let i = Int(r.queueSelect)
            return i < r.queues.count ? r.queues[i] : nil
        }
        return queue.map(body) ?? fallback
    }

    /// Changes the selected queue's registers. Ignored when `queue_select` names no queue,
    /// and — for the ring configuration — once `DRIVER_OK` is set (§2.6: a live queue's
    /// configuration changes only through reset).
    func modifySelectedQueue(ringConfiguration: Bool = true, _ body: (inout VirtioQueueRegisters) -> Void) {
        registers.withLock { r in
            let i = Int(r.queueSelect)
            guard i < r.queues.count else { return }
            if ringConfiguration && r.status & VirtioDeviceStatus.driverOK.rawValue != 0 { return }
            body(&r.queues[i])
        }
    }

    /// Writes `queue_msix_vector` of the selected queue; a vector the table does not have
    /// reads back as `VIRTIO_MSI_NO_VECTOR` (§4.1.5.1.2).
    func setSelectedQueueVector(_ vector: UInt16) {
        let v = validVector(vector)
        modifySelectedQueue(ringConfiguration: false) { $0.msixVector = v }
    }

    var configVector: UInt16 {
        get { registers.withLock { $0.configVector } }
        set {
            let v = validVector(newValue)
            registers.withLock { $0.configVector = v }
        }
    }

    private func validVector(_ vector: UInt16) -> UInt16 {
        Int(vector) < msixVectorCount ? vector : VirtioQueueRegisters.noVector
    }

    var legacyPageSize: UInt32 {
        get { registers.withLock { $0.legacyPageSize } }
        set { registers.withLock { $0.legacyPageSize = newValue } }
    }

    /// A driver notification for queue `index` that reached the register handler (the
    /// ioeventfd did not catch it): signal the same notifier.
    func notify(queue index: UInt64) {
        guard index < UInt64(kicks.count) else { return }
        try? kicks[Int(index)].signal()
    }

    // MARK: Device configuration (§2.5)

    /// Reads `size` bytes little-endian at `offset` of the device configuration space;
    /// bytes past its end read as zero.
    func readConfig(offset: UInt64, size: Int) -> UInt64 {
        let bytes = device.readConfig()
        noteConfig(bytes)
        var value: UInt64 = 0
        for i in 0..<size {
            let (at, overflow) = offset.addingReportingOverflow(UInt64(i))
            guard !overflow, at < UInt64(bytes.count) else { break }
            value |= UInt64(bytes[Int(at)]) << UInt64(8 * i)
        }
        return value
    }

    /// Writes `size` bytes of `value` at `offset`; the part past the end is dropped.
    func writeConfig(offset: UInt64, size: Int, value: UInt64) {
        let length = UInt64(device.readConfig().count)
        guard offset < length else { return }
        let n = Int(min(UInt64(size), length - offset))
        let bytes = (0..<n).map { UInt8(truncatingIfNeeded: value >> UInt64(8 * $0)) }
        device.writeConfig(offset: Int(offset), bytes: bytes)
    }

    /// `config_generation`, bumped whenever the configuration differs from what the driver
    /// could last have read, or the device announced a change.
    var configGeneration: UInt32 {
        noteConfig(device.readConfig())
        return registers.withLock { $0.configGeneration }
    }

    private func noteConfig(_ bytes: [UInt8]) {
        registers.withLock { r in
            if bytes != r.lastConfig {
                r.configGeneration &+= 1
                r.lastConfig = bytes
            }
        }
    }

    // MARK: Status (§2.1, §3.1.1)

    var status: UInt8 { registers.withLock { $0.status } }

    /// Why the device entered `DEVICE_NEEDS_RESET`, until the next reset.
    var needsResetReason: VirtioTransportError? { registers.withLock { $0.needsResetReason } }

    struct ActivationPlan {
        var features: UInt64
        var legacy: Bool
        var queues: [VirtioQueueRegisters]
        var pageSize: UInt32
        var epoch: UInt64
        /// Where queues start (restore, resume); 0 for a fresh activation.
        var positions: [Int: (avail: UInt16, used: UInt16)] = [:]
        /// A restore or resume: the device's own state is loaded right after activation.
        var continuesSavedState = false
    }

    private enum StatusOutcome {
        case none
        case fault(VirtioTransportError)
        case activate(ActivationPlan)
    }

    /// A driver write of the device status. 0 resets the device; otherwise bits are only
    /// ever added (§2.1.1: the driver never clears a bit), `DEVICE_NEEDS_RESET` is the
    /// device's own, `FEATURES_OK` sticks only for an acceptable feature set, and the
    /// first `DRIVER_OK` activates the device.
    func writeStatus(_ value: UInt8) {
        if value == 0 {
            reset()
            return
        }
        lifecycle.withLock { activity in
            let outcome = registers.withLock { r -> StatusOutcome in
                let featuresOK = VirtioDeviceStatus.featuresOK.rawValue
                let driverOK = VirtioDeviceStatus.driverOK.rawValue
                let blocked = VirtioDeviceStatus.deviceNeedsReset.rawValue | VirtioDeviceStatus.failed.rawValue
                let old = r.status
                var new = old | (value & ~VirtioDeviceStatus.deviceNeedsReset.rawValue)
                if new & featuresOK != 0 && old & featuresOK == 0 && !acceptable(r.driverFeatures) {
                    new &= ~featuresOK
                }
                var outcome = StatusOutcome.none
                if new & driverOK != 0 && old & driverOK == 0 && old & blocked == 0 {
                    let legacy = usesLegacyInterface(r.driverFeatures)
                    if !legacy && new & featuresOK == 0 {
                        outcome = .fault(.driverOKWithoutFeaturesOK(status: new))
                    } else {
                        // A legacy driver has no FEATURES_OK step; it gets what it asked
                        // for that the device offers, as legacy devices always did.
                        let features = legacy ? r.driverFeatures & offeredFeatures : r.driverFeatures
                        outcome = .activate(ActivationPlan(features: features, legacy: legacy, queues: r.queues,
                                                           pageSize: r.legacyPageSize, epoch: r.epoch))
                    }
                }
                r.status = new
                return outcome
            }
            switch outcome {
            case .none: break
            case .fault(let e): enterNeedsReset(e)
            case .activate(let plan):
                do throws(VirtioTransportError) { try activate(plan, &activity) } catch { enterNeedsReset(error) }
            }
        }
    }

    /// §3.1.1 step 8: build and validate each enabled queue, then start the device.
    private func activate(_ plan: ActivationPlan, _ activity: inout Activity) throws(VirtioTransportError) {
        var bindings: [VirtioQueueBinding] = []
        var running: [Int: SplitVirtqueue] = [:]
        for (index, q) in plan.queues.enumerated() {
            guard plan.legacy ? q.legacyPageFrame != 0 : q.enabled else { continue }
            guard q.size <= UInt32(q.maxSize) else {
                throw .queueSizeOutOfRange(queue: index, size: q.size, maximum: q.maxSize)
            }
            let size = UInt16(q.size)
            let layout: VirtqueueLayout
            if plan.legacy {
                let pageSize = interface == .legacy ? plan.pageSize : 4096
                let alignment = interface == .legacy ? q.legacyAlignment : 4096
                guard pageSize.nonzeroBitCount == 1, alignment.nonzeroBitCount == 1 else {
                    throw .invalidLegacyGeometry(queue: index, pageSize: pageSize, alignment: alignment)
                }
                layout = .legacy(size: size, base: UInt64(q.legacyPageFrame) * UInt64(pageSize),
                                 alignment: UInt64(alignment))
            } else {
                layout = VirtqueueLayout(size: size, descriptorTable: q.descriptorTable,
                                         availRing: q.driverArea, usedRing: q.deviceArea)
            }
            let queue: SplitVirtqueue
            do {
                let at = plan.positions[index]
                queue = try SplitVirtqueue(memory: memory, layout: layout, maxSize: q.maxSize,
                                           eventIndex: plan.features & VirtioFeature.eventIndex != 0,
                                           indirectDescriptors: plan.features & VirtioFeature.indirectDescriptors != 0,
                                           nextAvail: at?.avail ?? 0, nextUsed: at?.used)
            } catch {
                throw .device(.queue(index: index, error))
            }
            bindings.append(VirtioQueueBinding(index: index, queue: queue, kick: kicks[index]))
            running[index] = queue
        }
        let sink = VirtioActivationSink(core: self, epoch: plan.epoch)
        do {
            try device.activate(VirtioActivation(features: plan.features, memory: memory, queues: bindings, interrupts: sink,
                                                 continuesSavedState: plan.continuesSavedState))
        } catch {
            throw .device(error)
        }
        activity.plan = plan
        activity.queues = running
        activity.stoppedAt = nil
    }

    /// §2.1.2: set `DEVICE_NEEDS_RESET` and, if `DRIVER_OK` is set, send a configuration
    /// change notification. The first reason is kept until reset.
    /// With `epoch`, only if no reset happened since that activation (checked under the
    /// same lock, so a late device error cannot mark the next activation).
    func enterNeedsReset(_ reason: VirtioTransportError, epoch: UInt64? = nil) {
        registers.withLock { r in
            if let epoch, epoch != r.epoch { return }
            guard r.status & VirtioDeviceStatus.deviceNeedsReset.rawValue == 0 else { return }
            r.status |= VirtioDeviceStatus.deviceNeedsReset.rawValue
            r.needsResetReason = reason
            if r.status & VirtioDeviceStatus.driverOK.rawValue != 0 {
                delivery.deliverConfigChange(vector: r.configVector)
            }
        }
    }

    /// Device reset (§2.4): the device stops (synchronously, ``VirtioDevice/reset()``), then
    /// every register returns to its initial value and pending interrupts are dropped. Status
    /// reads the old value until this completes, so a driver polling for 0 sees a finished
    /// reset. The kick notifiers and their ioeventfds stay registered.
    func reset() {
        lifecycle.withLock { activity in
            registers.withLock { $0.epoch &+= 1 }
            device.reset()
            activity = Activity()
            for kick in kicks { kick.drain() }
            let config = device.readConfig()
            registers.withLock { r in
                r.status = 0
                r.deviceFeatureSelect = 0
                r.driverFeatureSelect = 0
                r.driverFeatures = 0
                r.queueSelect = 0
                for i in r.queues.indices { r.queues[i].reset() }
                r.configVector = VirtioQueueRegisters.noVector
                r.needsResetReason = nil
                if config != r.lastConfig {
                    r.configGeneration &+= 1
                    r.lastConfig = config
                }
                delivery.clearInterrupts()
            }
        }
    }

    // MARK: Quiescing and saved state

    /// Stops a running device at a safe point: it finishes its in-flight requests into the
    /// used rings and lets go of the queues (as a reset does), but the driver-visible
    /// registers stay, and the queues' positions are kept for ``resume()`` and for the saved
    /// state. Returns false when nothing was running. Idempotent.
    @discardableResult
    func quiesce() -> Bool {
        lifecycle.withLock { activity in
            guard activity.plan != nil, activity.stoppedAt == nil else { return false }
            activity.deviceState = (device as? any DeviceStateful)?.saveState(id: "device")
            device.reset()
            activity.stoppedAt = activity.queues.mapValues { ($0.nextAvail, $0.nextUsed) }
            activity.queues = [:]
            return true
        }
    }

    /// Starts a quiesced device again where it stopped. A failure puts the device in
    /// `DEVICE_NEEDS_RESET`, as any activation failure does.
    func resume() {
        lifecycle.withLock { activity in
            guard var plan = activity.plan, let stopped = activity.stoppedAt else { return }
            plan.positions = stopped
            plan.continuesSavedState = activity.deviceState != nil
            plan.epoch = registers.withLock { $0.epoch }
            let saved = activity.deviceState
            do throws(VirtioTransportError) { try activate(plan, &activity) } catch { enterNeedsReset(error) }
            if let saved, let stateful = device as? any DeviceStateful {
                do throws(DeviceStateError) { try stateful.restoreState(saved) } catch {
                    // Its own record, moments old: only a device bug gets here.
                    enterNeedsReset(.device(.stateRestore("\(error)")))
                }
            }
        }
    }

    /// A `kind` record (one per transport kind) of the device type, the registers and (for a
    /// running device, which must be quiesced) the queue positions; the transport adds its
    /// interrupt status.
    func saveState(id: String, kind: String) -> DeviceStateRecord {
        var r = DeviceStateRecord(id: id, kind: kind, version: 1)
        r.set("device-type", device.deviceType.rawValue)
        let stopped = lifecycle.withLock { $0.stoppedAt }
        registers.withLock { reg in
            r.set("status", reg.status)
            r.set("device-feature-select", reg.deviceFeatureSelect)
            r.set("driver-feature-select", reg.driverFeatureSelect)
            r.set("driver-features", reg.driverFeatures)
            r.set("queue-select", reg.queueSelect)
            r.set("config-vector", reg.configVector)
            r.set("legacy-page-size", reg.legacyPageSize)
            r.set("config-generation", reg.configGeneration)
            r.set("queue-size", array: reg.queues.map(\.size))
            r.set("queue-enabled", array: reg.queues.map { UInt8($0.enabled ? 1 : 0) })
            r.set("queue-descriptors", array: reg.queues.map(\.descriptorTable))
            r.set("queue-driver-area", array: reg.queues.map(\.driverArea))
            r.set("queue-device-area", array: reg.queues.map(\.deviceArea))
            r.set("queue-msix-vector", array: reg.queues.map(\.msixVector))
            r.set("queue-legacy-pfn", array: reg.queues.map(\.legacyPageFrame))
            r.set("queue-legacy-align", array: reg.queues.map(\.legacyAlignment))
        }
        if let stopped {
            let n = kicks.count
            r.set("queue-next-avail", array: (0..<n).map { UInt64(stopped[$0]?.avail ?? 0) })
            r.set("queue-next-used", array: (0..<n).map { UInt64(stopped[$0]?.used ?? 0) })
            r.set("queue-running", array: (0..<n).map { UInt8(stopped[$0] == nil ? 0 : 1) })
        }
        return r
    }

    /// Refuses a record that is not a `kind` record of this device type.
    func checkIdentity(_ r: DeviceStateRecord, kind: String) throws(DeviceStateError) {
        try r.expect(kind: kind, versions: 1...1)
        let type = try r.unsigned("device-type")
        guard type == UInt64(device.deviceType.rawValue) else {
            throw r.invalid("device-type", type, expected: "\(device.deviceType.rawValue) (\(device.deviceType))")
        }
    }

    /// Loads registers from `r` (checked by ``checkIdentity(_:kind:)``, and validated against
    /// what this transport and device offer),
    /// and — when the saved device was running — activates the device at the saved queue
    /// positions, as if the driver had just set `DRIVER_OK`. The device must be in its reset
    /// state (freshly built).
    func restoreState(_ r: DeviceStateRecord) throws(DeviceStateError) {
        let n = kicks.count
        let status: UInt8 = try r.integer("status")
        let driverFeatures = try r.unsigned("driver-features")
        guard driverFeatures & ~offeredFeatures == 0 else {
            throw r.invalid("driver-features", "0x\(String(driverFeatures, radix: 16))", expected: "a subset of the offered 0x\(String(offeredFeatures, radix: 16))")
        }
        let sizes = try r.unsignedArray("queue-size", count: n, max: UInt64(UInt32.max))
        let enabled = try r.unsignedArray("queue-enabled", count: n, max: 1)
        let descriptors = try r.unsignedArray("queue-descriptors", count: n)
        let driverAreas = try r.unsignedArray("queue-driver-area", count: n)
        let deviceAreas = try r.unsignedArray("queue-device-area", count: n)
        let vectors = try r.unsignedArray("queue-msix-vector", count: n, max: UInt64(UInt16.max))
        let pfns = try r.unsignedArray("queue-legacy-pfn", count: n, max: UInt64(UInt32.max))
        let aligns = try r.unsignedArray("queue-legacy-align", count: n, max: UInt64(UInt32.max))
        let configVector: UInt16 = try r.integer("config-vector")
        var positions: [Int: (avail: UInt16, used: UInt16)] = [:]
        if r.value("queue-running") != nil {
            let running = try r.unsignedArray("queue-running", count: n, max: 1)
            let avail = try r.unsignedArray("queue-next-avail", count: n, max: UInt64(UInt16.max))
            let used = try r.unsignedArray("queue-next-used", count: n, max: UInt64(UInt16.max))
            for i in 0..<n where running[i] == 1 { positions[i] = (UInt16(avail[i]), UInt16(used[i])) }
        }
        let snapshot = Registers(
            status: status, deviceFeatureSelect: try r.integer("device-feature-select"),
            driverFeatureSelect: try r.integer("driver-feature-select"), driverFeatures: driverFeatures,
            queueSelect: try r.integer("queue-select"),
            queues: (0..<n).map { i in
                var q = VirtioQueueRegisters(maxSize: device.queueMaxSizes[i])
                q.size = UInt32(sizes[i])
                q.enabled = enabled[i] == 1
                q.descriptorTable = descriptors[i]
                q.driverArea = driverAreas[i]
                q.deviceArea = deviceAreas[i]
                q.msixVector = validVector(UInt16(vectors[i]))
                q.legacyPageFrame = UInt32(pfns[i])
                q.legacyAlignment = UInt32(aligns[i])
                return q
            },
            configVector: validVector(configVector), legacyPageSize: try r.integer("legacy-page-size"),
            configGeneration: try r.integer("config-generation"), lastConfig: device.readConfig())
        let driverOK = VirtioDeviceStatus.driverOK.rawValue
        let blocked = VirtioDeviceStatus.deviceNeedsReset.rawValue | VirtioDeviceStatus.failed.rawValue
        try lifecycle.withLock { (activity: inout Activity) throws(DeviceStateError) in
            guard activity.plan == nil else {
                throw r.invalid("status", status, expected: "a device not yet started (restore into a freshly built machine)")
            }
            let epoch = registers.withLock { reg in
                let epoch = reg.epoch
                reg = snapshot
                reg.epoch = epoch
                return epoch
            }
            guard status & driverOK != 0, status & blocked == 0 else { return }
            let legacy = usesLegacyInterface(driverFeatures)
            let plan = ActivationPlan(features: legacy ? driverFeatures & offeredFeatures : driverFeatures, legacy: legacy,
                                      queues: snapshot.queues, pageSize: snapshot.legacyPageSize, epoch: epoch, positions: positions,
                                      continuesSavedState: true)
            do throws(VirtioTransportError) {
                try activate(plan, &activity)
            } catch {
                // The saved rings do not fit this guest's memory: refuse rather than run a
                // device the driver believes healthy.
                registers.withLock { $0.status = 0 }
                throw r.invalid("queues", "\(error)", expected: "rings the restored guest memory holds")
            }
        }
    }

    // MARK: Device → driver (through VirtioActivationSink)

    fileprivate func usedBuffers(queue index: Int, epoch: UInt64) {
        registers.withLock { r in
            guard r.epoch == epoch, index >= 0, index < r.queues.count else { return }
            delivery.deliverUsedBuffers(queue: index, vector: r.queues[index].msixVector)
        }
    }

    fileprivate func configChanged(epoch: UInt64) {
        registers.withLock { r in
            guard r.epoch == epoch else { return }
            r.configGeneration &+= 1
            delivery.deliverConfigChange(vector: r.configVector)
        }
    }

    fileprivate func deviceFault(_ error: VirtioDeviceError, epoch: UInt64) {
        enterNeedsReset(.device(error), epoch: epoch)
    }
}

/// The ``VirtioInterruptSink`` handed to one activation. It is tied to that activation:
/// after a reset its calls are ignored, so a device thread finishing late cannot interrupt
/// the driver of the next activation.
final class VirtioActivationSink<Device: VirtioDevice>: VirtioInterruptSink {
    let core: VirtioTransportCore<Device>
    let epoch: UInt64

    init(core: VirtioTransportCore<Device>, epoch: UInt64) {
        self.core = core
        self.epoch = epoch
    }

    func signalUsedBuffers(queue index: Int) { core.usedBuffers(queue: index, epoch: epoch) }
    func signalConfigChange() { core.configChanged(epoch: epoch) }
    func deviceNeedsReset(_ error: VirtioDeviceError) { core.deviceFault(error, epoch: epoch) }
}
