import DeviceModel
import Synchronization

/// The virtio-pci transport (virtio 1.2 §4.1), written once for any ``VirtioDevice``: a
/// ``PCIFunction`` to attach to a ``PCIBus``.
///
/// - Modern (§4.1.4): vendor 0x1AF4, device 0x1040 + device ID, revision 1. Vendor
///   capabilities point into a 64-bit memory BAR (BAR 4): common configuration, ISR,
///   device configuration and notifications (`notify_off_multiplier` 4, `queue_notify_off`
///   = queue index), plus the PCI configuration access capability. The MSI-X table (one
///   vector per queue plus one for configuration changes) and PBA live in the same BAR.
/// - Transitional (§4.1.4.8): additionally the legacy I/O BAR 0 with `QUEUE_PFN` and
///   `QUEUE_NOTIFY` driving the legacy ring layout, device ID 0x1000 + legacy ID, revision 0
///   and subsystem ID = device ID. A driver that does not negotiate `VERSION_1` is legacy.
///
/// Notifications: with MSI-X enabled, through the vector the driver assigned
/// (`VIRTIO_MSI_NO_VECTOR` = none; a vector the table lacks reads back as NO_VECTOR);
/// otherwise INTx with the ISR (read to clear; bit 0 queues, bit 1 configuration).
///
/// Queue notifications are ioeventfds: whenever the guest maps the BARs, the transport
/// registers a 2-byte match at each queue's notify address (and, transitional, at
/// `QUEUE_NOTIFY` with datamatch = queue index) with the ``IOEventRegistrar``; writes that
/// reach the registers anyway signal the same notifiers.
///
/// ```swift
/// let pci = try VirtioPCITransport(device: blk, memory: ram, msi: kvm.msi, ioEvents: kvm.ioEvents)
/// try bus.attach(pci, device: 3)
/// ```
public final class VirtioPCITransport<Device: VirtioDevice>: PCIFunction, PCIConfigHooks, PCIBARObserver {
    /// Which interfaces the function exposes.
    public enum Mode: Sendable, Hashable {
        /// Virtio 1.x only.
        case modern
        /// Modern and legacy (the I/O BAR), for drivers from before virtio 1.0.
        case transitional
    }

    /// Construction options.
    public struct Options: Sendable {
        public var mode: Mode
        /// MSI-X table size; by default one vector per queue plus one for configuration
        /// changes. 0 leaves out MSI-X (INTx only).
        public var msixVectors: Int?
        /// The INTx pin (INTA by default).
        public var interruptPin: PCIInterruptPin

        public init(mode: Mode = .modern, msixVectors: Int? = nil, interruptPin: PCIInterruptPin = .intA) {
            self.mode = mode
            self.msixVectors = msixVectors
            self.interruptPin = interruptPin
        }
    }

    public let device: Device
    public let options: Options
    public let configSpace: PCIConfigSpace

    let core: VirtioTransportCore<Device>
    let interrupts: VirtioPCIInterruptState
    let layout: VirtioPCIBARLayout
    let legacyBARSize: UInt64
    private let ioEvents: any IOEventRegistrar
    private let pciConfigCapability: Int
    private let notifyMatches = Mutex<[Int: [IOEventMatch]]>([:])

    /// Builds the function for `device`, whose rings live in `memory`; MSI-X messages go to
    /// `msi`, queue-notify ioeventfds to `ioEvents` once the guest maps the BARs.
    public init(device: Device, memory: any GuestMemory, msi: any MSIController, ioEvents: any IOEventRegistrar,
                options: Options = Options()) throws(VirtioTransportError) {
        self.device = device
        self.options = options
        self.ioEvents = ioEvents
        let queueCount = device.queueMaxSizes.count
        let vectors = options.msixVectors ?? (queueCount + 1)
        layout = VirtioPCIBARLayout(queueCount: queueCount, msixVectors: max(vectors, 1))
        let transitional = options.mode == .transitional
        let configLength = UInt64(device.readConfig().count)

        let deviceID: UInt16
        if transitional {
            guard let id = VirtioPCI.transitionalDeviceID(device.deviceType) else {
                throw .noTransitionalDeviceID(device.deviceType)
            }
            deviceID = id
        } else {
            guard device.deviceType.rawValue <= 0x3F else { throw .pciDeviceIDOutOfRange(device.deviceType) }
            deviceID = VirtioPCI.modernDeviceIDBase + UInt16(device.deviceType.rawValue)
        }
        let config = PCIConfigSpace(
            vendorID: VirtioPCI.vendorID, deviceID: deviceID, classCode: VirtioPCI.classCode(device.deviceType),
            revisionID: transitional ? 0 : 1, subsystemVendorID: VirtioPCI.vendorID,
            subsystemID: transitional ? UInt16(truncatingIfNeeded: device.deviceType.rawValue) : VirtioPCI.modernSubsystemID)
        config.interruptPin = options.interruptPin
        configSpace = config

        var legacySize: UInt64 = 32
        while legacySize < VirtioPCI.Legacy.configOffsetMSIX + configLength { legacySize <<= 1 }
        legacyBARSize = legacySize
        do throws(PCIError) {
            if transitional {
                guard legacySize <= 256 else {
                    throw .invalidBARSize(kind: .io, size: legacySize)
                }
                try config.addBAR(.io(size: legacySize), at: VirtioPCI.legacyBAR)
            }
            try config.addBAR(.memory64(size: layout.size, prefetchable: true), at: VirtioPCI.modernBAR)
            // MSI-X first, as QEMU orders it; then the virtio capabilities (§4.1.4).
            if vectors > 0 {
                _ = try config.addMSIXCapability(
                    vectorCount: vectors,
                    table: .init(bar: VirtioPCI.modernBAR, offset: UInt32(layout.msixTable)),
                    pba: .init(bar: VirtioPCI.modernBAR, offset: UInt32(layout.msixPBA)),
                    controller: msi)
            }
            for (type, region) in [(VirtioPCI.CapabilityType.commonConfig, layout.common),
                                   (.isrConfig, layout.isr), (.deviceConfig, layout.device)] {
                try config.addCapability(id: VirtioPCI.vendorCapabilityID,
                                         body: Self.capabilityBody(type, bar: VirtioPCI.modernBAR, region: region))
            }
            try config.addCapability(
                id: VirtioPCI.vendorCapabilityID,
                body: Self.capabilityBody(.notifyConfig, bar: VirtioPCI.modernBAR, region: layout.notify,
                                          extra: Self.le32(VirtioPCI.notifyOffMultiplier)))
            // §4.1.4.9: bar, offset, length and data are the driver's to write.
            let pciCfgBody = Self.capabilityBody(.pciConfig, bar: 0, region: 0..<0, extra: [0, 0, 0, 0])
            var mask = [UInt8](repeating: 0, count: pciCfgBody.count)
            mask[2] = 0xFF
            for i in 6..<18 { mask[i] = 0xFF }
            pciConfigCapability = try config.addCapability(id: VirtioPCI.vendorCapabilityID, body: pciCfgBody, writableMask: mask)
        } catch {
            throw .pci(error)
        }

        let interrupts = VirtioPCIInterruptState(configSpace: config)
        self.interrupts = interrupts
        core = try VirtioTransportCore(device: device, memory: memory, interface: transitional ? .transitional : .modern,
                                       msixVectorCount: vectors, delivery: interrupts)
    }

    deinit {
        for match in notifyMatches.withLock({ $0.values.flatMap { $0 } }) { try? ioEvents.unregister(match) }
    }

    /// `cap_len`, `cfg_type`, `bar`, `id`, padding, `offset`, `length` (+ `extra`): the
    /// capability after its ID and next pointer (`struct virtio_pci_cap`, §4.1.4).
    private static func capabilityBody(_ type: VirtioPCI.CapabilityType, bar: Int, region: Range<UInt64>,
                                       extra: [UInt8] = []) -> [UInt8] {
        let length = UInt8(16 + extra.count)
        return [length, type.rawValue, UInt8(bar), 0, 0, 0]
            + le32(UInt32(region.lowerBound)) + le32(UInt32(region.count)) + extra
    }

    private static func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> UInt32(8 * $0)) } }

    // MARK: State for the host (diagnostics, tests)

    /// The device status byte as the driver sees it.
    public var status: VirtioDeviceStatus { VirtioDeviceStatus(rawValue: core.status) }
    /// Why the device is in `DEVICE_NEEDS_RESET`, until the driver resets it.
    public var needsResetReason: VirtioTransportError? { core.needsResetReason }
    /// The ISR bits pending (without clearing them).
    public var pendingISR: UInt8 { interrupts.pendingISR }
    /// The features the driver accepted.
    public var driverFeatures: UInt64 { core.driverFeatures }
    /// The features the driver sees offered.
    public var offeredFeatures: UInt64 { core.offeredFeatures }
    /// Number of MSI-X messages the backend refused, and the last error.
    public var interruptDeliveryFailures: (count: Int, last: InterruptError?) { interrupts.deliveryFailures }

    // MARK: BARs

    public func readBAR(_ bar: Int, offset: UInt64, size: Int) -> UInt64 {
        switch bar {
        case VirtioPCI.modernBAR: readModern(offset: offset, size: size)
        case VirtioPCI.legacyBAR where options.mode == .transitional: readLegacy(offset: offset, size: size)
        default: 0
        }
    }

    public func writeBAR(_ bar: Int, offset: UInt64, size: Int, value: UInt64) {
        switch bar {
        case VirtioPCI.modernBAR: writeModern(offset: offset, size: size, value: value)
        case VirtioPCI.legacyBAR where options.mode == .transitional: writeLegacy(offset: offset, size: size, value: value)
        default: break
        }
    }

    private func readModern(offset: UInt64, size: Int) -> UInt64 {
        if layout.common.contains(offset) { return readCommon(offset: offset, size: size) }
        if layout.isr.contains(offset) {
            return offset == layout.isr.lowerBound ? UInt64(interrupts.readAndClear()) : 0
        }
        if layout.device.contains(offset) { return core.readConfig(offset: offset - layout.device.lowerBound, size: size) }
        return 0
    }

    private func writeModern(offset: UInt64, size: Int, value: UInt64) {
        if layout.common.contains(offset) {
            writeCommon(offset: offset, size: size, value: value)
        } else if layout.device.contains(offset) {
            core.writeConfig(offset: offset - layout.device.lowerBound, size: size, value: value)
        } else if layout.notify.contains(offset) {
            // Reached only when the ioeventfd did not take the write.
            core.notify(queue: (offset - layout.notify.lowerBound) / UInt64(VirtioPCI.notifyOffMultiplier))
        }
    }

    // MARK: Common configuration (§4.1.4.3)

    private func readCommon(offset: UInt64, size: Int) -> UInt64 {
        typealias C = VirtioPCI.Common
        switch (offset, size) {
        case (C.deviceFeatureSelect, 4): return UInt64(core.deviceFeatureSelect)
        case (C.deviceFeature, 4): return UInt64(core.deviceFeatureWord)
        case (C.driverFeatureSelect, 4): return UInt64(core.driverFeatureSelect)
        case (C.driverFeature, 4): return UInt64(core.driverFeatureWord)
        case (C.configMSIXVector, 2): return UInt64(core.configVector)
        case (C.numQueues, 2): return UInt64(core.queueCount)
        case (C.deviceStatus, 1): return UInt64(core.status)
        case (C.configGeneration, 1): return UInt64(core.configGeneration & 0xFF)
        case (C.queueSelect, 2): return UInt64(core.queueSelect & 0xFFFF)
        // §4.1.4.3.2: an unavailable queue reads size 0.
        case (C.queueSize, 2): return UInt64(core.readSelectedQueue(0) { $0.size & 0xFFFF })
        case (C.queueMSIXVector, 2): return UInt64(core.readSelectedQueue(VirtioQueueRegisters.noVector) { $0.msixVector })
        case (C.queueEnable, 2): return core.readSelectedQueue(0) { $0.enabled ? 1 : 0 }
        case (C.queueNotifyOff, 2): return UInt64(core.queueSelect & 0xFFFF)
        default:
            for (base, field) in [(C.queueDesc, \VirtioQueueRegisters.descriptorTable),
                                  (C.queueDriver, \.driverArea), (C.queueDevice, \.deviceArea)] {
                let v = core.readSelectedQueue(0) { $0[keyPath: field] }
                switch (offset, size) {
                case (base, 8): return v
                case (base, 4): return v & 0xFFFF_FFFF
                case (base + 4, 4): return v >> 32
                default: continue
                }
            }
            return 0
        }
    }

    private func writeCommon(offset: UInt64, size: Int, value: UInt64) {
        typealias C = VirtioPCI.Common
        let v32 = UInt32(truncatingIfNeeded: value)
        let v16 = UInt16(truncatingIfNeeded: value)
        switch (offset, size) {
        case (C.deviceFeatureSelect, 4): core.deviceFeatureSelect = v32
        case (C.driverFeatureSelect, 4): core.driverFeatureSelect = v32
        case (C.driverFeature, 4): core.writeDriverFeatureWord(v32)
        case (C.configMSIXVector, 2): core.configVector = v16
        case (C.deviceStatus, 1): core.writeStatus(UInt8(truncatingIfNeeded: value))
        case (C.queueSelect, 2): core.queueSelect = UInt32(v16)
        case (C.queueSize, 2): core.modifySelectedQueue { $0.size = UInt32(v16) }
        case (C.queueMSIXVector, 2): core.setSelectedQueueVector(v16)
        // §4.1.4.3.2: the driver never writes 0 (that is what queue_reset is for).
        case (C.queueEnable, 2) where v16 == 1: core.modifySelectedQueue { $0.enabled = true }
        default:
            for (base, field) in [(C.queueDesc, \VirtioQueueRegisters.descriptorTable),
                                  (C.queueDriver, \.driverArea), (C.queueDevice, \.deviceArea)] {
                switch (offset, size) {
                case (base, 8): core.modifySelectedQueue { $0[keyPath: field] = value }
                case (base, 4): core.modifySelectedQueue { $0.setLow(field, v32) }
                case (base + 4, 4): core.modifySelectedQueue { $0.setHigh(field, v32) }
                default: continue
                }
                return
            }
        }
    }

    // MARK: Legacy I/O BAR (§4.1.4.8)

    private var legacyConfigOffset: UInt64 {
        configSpace.msix?.isEnabled == true ? VirtioPCI.Legacy.configOffsetMSIX : VirtioPCI.Legacy.configOffset
    }

    private func readLegacy(offset: UInt64, size: Int) -> UInt64 {
        typealias L = VirtioPCI.Legacy
        let configOffset = legacyConfigOffset
        if offset >= configOffset { return core.readConfig(offset: offset - configOffset, size: size) }
        switch (offset, size) {
        case (L.hostFeatures, 4): return core.offeredFeatures & 0xFFFF_FFFF
        case (L.guestFeatures, 4): return core.driverFeatures & 0xFFFF_FFFF
        case (L.queuePFN, 4): return UInt64(core.readSelectedQueue(0) { $0.legacyPageFrame })
        case (L.queueNum, 2): return UInt64(core.readSelectedQueue(0) { $0.maxSize })
        case (L.queueSelect, 2): return UInt64(core.queueSelect & 0xFFFF)
        case (L.status, 1): return UInt64(core.status)
        case (L.isr, 1): return UInt64(interrupts.readAndClear())
        case (L.configVector, 2) where configOffset == L.configOffsetMSIX: return UInt64(core.configVector)
        case (L.queueVector, 2) where configOffset == L.configOffsetMSIX:
            return UInt64(core.readSelectedQueue(VirtioQueueRegisters.noVector) { $0.msixVector })
        default: return 0
        }
    }

    private func writeLegacy(offset: UInt64, size: Int, value: UInt64) {
        typealias L = VirtioPCI.Legacy
        let configOffset = legacyConfigOffset
        if offset >= configOffset {
            core.writeConfig(offset: offset - configOffset, size: size, value: value)
            return
        }
        let v32 = UInt32(truncatingIfNeeded: value)
        let v16 = UInt16(truncatingIfNeeded: value)
        switch (offset, size) {
        case (L.guestFeatures, 4): core.writeDriverFeatureWord(v32, legacyWordZero: true)
        case (L.queuePFN, 4): core.modifySelectedQueue { $0.legacyPageFrame = v32 }
        case (L.queueSelect, 2): core.queueSelect = UInt32(v16)
        case (L.queueNotify, 2): core.notify(queue: UInt64(v16))
        case (L.status, 1): core.writeStatus(UInt8(truncatingIfNeeded: value))
        case (L.configVector, 2) where configOffset == L.configOffsetMSIX: core.configVector = v16
        case (L.queueVector, 2) where configOffset == L.configOffsetMSIX: core.setSelectedQueueVector(v16)
        default: break
        }
    }

    // MARK: PCI configuration access capability (§4.1.4.9)

    private var pciConfigDataOffset: Int { pciConfigCapability + 16 }

    /// The BAR access the capability currently describes, if it is a valid one: length 1, 2
    /// or 4, offset aligned to it, inside one of this function's BARs.
    private func pciConfigWindow() -> (bar: Int, offset: UInt64, length: Int)? {
        let c = pciConfigCapability
        let bar = Int(configSpace.read(at: c + 4, size: 1))
        let offset = UInt64(configSpace.read(at: c + 8, size: 4))
        let length = Int(configSpace.read(at: c + 12, size: 4))
        guard [1, 2, 4].contains(length), offset % UInt64(length) == 0 else { return nil }
        let barSize: UInt64
        switch bar {
        case VirtioPCI.modernBAR: barSize = layout.size
        case VirtioPCI.legacyBAR where options.mode == .transitional: barSize = legacyBARSize
        default: return nil
        }
        guard offset + UInt64(length) <= barSize else { return nil }
        return (bar, offset, length)
    }

    public func configRead(at offset: Int, size: Int) -> UInt32? {
        let data = pciConfigDataOffset
        guard offset >= data, offset < data + 4, let w = pciConfigWindow() else { return nil }
        let value = UInt32(truncatingIfNeeded: routeBARRead(w.bar, offset: w.offset, size: w.length))
        return value >> UInt32(8 * (offset - data))
    }

    public func configWritten(at offset: Int, size: Int, value: UInt32) {
        let data = pciConfigDataOffset
        guard offset < data + 4, offset + size > data, let w = pciConfigWindow() else { return }
        let bytes = configSpace.read(at: data, size: 4)
        routeBARWrite(w.bar, offset: w.offset, size: w.length, value: UInt64(bytes) & IORequest.mask(forSize: w.length))
    }

    // MARK: ioeventfds follow the BARs

    public func barMappingChanged(_ bar: Int, to mapping: PCIBARMapping?) {
        notifyMatches.withLock { all in
            for match in all[bar] ?? [] { try? ioEvents.unregister(match) }
            all[bar] = nil
            guard let mapping else { return }
            var matches: [IOEventMatch] = []
            for index in 0..<core.queueCount {
                let match: IOEventMatch
                switch bar {
                case VirtioPCI.modernBAR:
                    let at = mapping.range.base + layout.notify.lowerBound + UInt64(index) * UInt64(VirtioPCI.notifyOffMultiplier)
                    match = IOEventMatch(space: mapping.space, address: at, size: 2)
                case VirtioPCI.legacyBAR where options.mode == .transitional:
                    match = IOEventMatch(space: mapping.space, address: mapping.range.base + VirtioPCI.Legacy.queueNotify,
                                         size: 2, datamatch: UInt64(index))
                default: return
                }
                // A refused registration is not fatal: the write then reaches the handler,
                // which signals the same notifier.
                if (try? ioEvents.register(match, notifier: core.kicks[index])) != nil { matches.append(match) }
            }
            all[bar] = matches
        }
    }

    /// The ioeventfds registered now (for diagnostics and tests).
    public var registeredNotifyMatches: [IOEventMatch] {
        notifyMatches.withLock { all in all.keys.sorted().flatMap { all[$0] ?? [] } }
    }
}
