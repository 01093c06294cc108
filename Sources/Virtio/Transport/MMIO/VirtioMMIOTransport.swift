import DeviceModel
import Synchronization

/// The virtio-mmio transport (virtio 1.2 §4.2), written once for any ``VirtioDevice``.
///
/// Version 2 is the virtio 1.x register layout (§4.2.2); version 1 is the legacy layout
/// with `GuestPageSize`, `QueueAlign` and `QueuePFN` (§4.2.4). The transport is an
/// ``IOHandler`` mapped at a guest-physical base; the driver's queue notifications at
/// `base + 0x50` are registered as ioeventfds (one per queue, datamatch = queue index) so
/// that on KVM they signal the queue's kick notifier without leaving the kernel. The
/// interrupt is one level-triggered line, asserted while `InterruptStatus` is non-zero.
///
/// Control registers accept only aligned 32-bit accesses (§4.2.2.2); other accesses read 0
/// and are ignored. The device configuration space at 0x100 accepts 1, 2, 4 and 8 bytes.
/// Driver errors never reach the host as errors: they set `DEVICE_NEEDS_RESET`
/// (see ``needsResetReason``).
///
/// ```swift
/// let mmio = try VirtioMMIOTransport(device: rng, memory: ram, interrupt: irq5)
/// try mmio.register(in: dispatcher.memory, at: 0xD000_0000, ioEvents: kvm.ioEvents)
/// ```
public final class VirtioMMIOTransport<Device: VirtioDevice>: IOHandler {
    /// The register layout version reported in the `Version` register.
    public enum Version: UInt32, Sendable {
        /// Legacy virtio-mmio (§4.2.4): no `VERSION_1`, queues placed with `QueuePFN`.
        case legacy = 1
        /// Virtio 1.x virtio-mmio (§4.2.2).
        case modern = 2
    }

    /// Construction options.
    public struct Options: Sendable {
        public var version: Version
        /// The `VendorID` register; defaults to QEMU's "QEMU" (0x554D4551), which drivers
        /// do not interpret.
        public var vendorID: UInt32

        public init(version: Version = .modern, vendorID: UInt32 = 0x554D_4551) {
            self.version = version
            self.vendorID = vendorID
        }
    }

    public let device: Device
    public let options: Options
    /// The length of the register window: 0x100 of registers plus the configuration
    /// space, at least 0x200 (the size Linux and QEMU use for a virtio-mmio device).
    public let regionLength: UInt64

    let core: VirtioTransportCore<Device>
    let interrupts: VirtioMMIOInterruptState

    private struct Registration {
        var space: AddressSpace
        var base: UInt64
        var ioEvents: any IOEventRegistrar
        var matches: [IOEventMatch]
    }
    private let registration = Mutex<Registration?>(nil)

    /// Creates the transport for `device`, whose rings live in `memory` and whose interrupt
    /// is `interrupt`. Creates one kick notifier per device queue.
    public init(device: Device, memory: any GuestMemory, interrupt: any InterruptLine,
                options: Options = Options()) throws(VirtioTransportError) {
        self.device = device
        self.options = options
        let interrupts = VirtioMMIOInterruptState(line: interrupt)
        self.interrupts = interrupts
        self.core = try VirtioTransportCore(device: device, memory: memory,
                                            interface: options.version == .legacy ? .legacy : .modern,
                                            msixVectorCount: 0, delivery: interrupts)
        let configLength = UInt64(device.readConfig().count)
        self.regionLength = max(0x200, VirtioMMIORegister.config + (configLength + 0xFF) & ~0xFF)
    }

    // MARK: Wiring

    /// Maps the registers at `base` in `space` and registers one ioeventfd per queue on
    /// `QueueNotify` (4 bytes at `base + 0x50`, datamatch = queue index) with `ioEvents`.
    /// On failure nothing stays registered.
    public func register(in space: AddressSpace, at base: UInt64, ioEvents: any IOEventRegistrar) throws(VirtioTransportError) {
        try registration.withLock { (current: inout Registration?) throws(VirtioTransportError) in
            if let current { throw .alreadyRegistered(base: current.base) }
            do throws(AddressSpaceError) {
                try space.register(base: base, length: regionLength, name: "virtio-mmio \(device.deviceType)", handler: self)
            } catch { throw .registration(error) }
            var matches: [IOEventMatch] = []
            for (index, kick) in core.kicks.enumerated() {
                let match = IOEventMatch(space: space.space, address: base &+ VirtioMMIORegister.queueNotify,
                                         size: 4, datamatch: UInt64(index))
                do throws(IOEventError) {
                    try ioEvents.register(match, notifier: kick)
                    matches.append(match)
                } catch {
                    for m in matches { try? ioEvents.unregister(m) }
                    try? space.unregister(base: base)
                    throw .ioEvent(error)
                }
            }
            current = Registration(space: space, base: base, ioEvents: ioEvents, matches: matches)
        }
    }

    /// Removes the register mapping and the ioeventfds. Does not reset the device.
    public func unregister() {
        registration.withLock { current in
            guard let r = current else { return }
            for m in r.matches { try? r.ioEvents.unregister(m) }
            try? r.space.unregister(base: r.base)
            current = nil
        }
    }

    /// The guest-physical base the registers are mapped at, if registered.
    public var base: UInt64? { registration.withLock { $0?.base } }

    // MARK: State for the host (diagnostics, tests)

    /// The device status byte as the driver sees it.
    public var status: VirtioDeviceStatus { VirtioDeviceStatus(rawValue: core.status) }

    /// Why the device is in `DEVICE_NEEDS_RESET`, until the driver resets it.
    public var needsResetReason: VirtioTransportError? { core.needsResetReason }

    /// `InterruptStatus`: bit 0 used buffers, bit 1 configuration change.
    public var interruptStatus: UInt32 { interrupts.status }

    /// The features the driver accepted.
    public var driverFeatures: UInt64 { core.driverFeatures }

    /// The features the driver sees offered (the device's, minus what virtio-mmio lacks).
    public var offeredFeatures: UInt64 { core.offeredFeatures }

    /// Number of times the interrupt line could not be driven, and the last error.
    public var interruptDeliveryFailures: (count: Int, last: InterruptError?) { interrupts.deliveryFailures }

    // MARK: IOHandler

    public func read(at offset: UInt64, size: Int) -> UInt64 {
        if offset >= VirtioMMIORegister.config {
            return core.readConfig(offset: offset - VirtioMMIORegister.config, size: size)
        }
        guard size == 4, offset % 4 == 0 else { return 0 }
        let legacy = options.version == .legacy
        let value: UInt32
        switch offset {
        case VirtioMMIORegister.magicValue: value = VirtioMMIORegister.magic
        case VirtioMMIORegister.version: value = options.version.rawValue
        case VirtioMMIORegister.deviceID: value = device.deviceType.rawValue
        case VirtioMMIORegister.vendorID: value = options.vendorID
        case VirtioMMIORegister.deviceFeatures: value = core.deviceFeatureWord
        case VirtioMMIORegister.queueNumMax: value = core.readSelectedQueue(0) { UInt32($0.maxSize) }
        case VirtioMMIORegister.queuePFN where legacy: value = core.readSelectedQueue(0) { $0.legacyPageFrame }
        case VirtioMMIORegister.queueReady where !legacy: value = core.readSelectedQueue(0) { $0.enabled ? 1 : 0 }
        case VirtioMMIORegister.interruptStatus: value = interrupts.status
        case VirtioMMIORegister.status: value = UInt32(core.status)
        // No shared memory regions: a non-existent region has length -1 (§4.2.2).
        case VirtioMMIORegister.shmLenLow, VirtioMMIORegister.shmLenHigh,
             VirtioMMIORegister.shmBaseLow, VirtioMMIORegister.shmBaseHigh:
            value = legacy ? 0 : 0xFFFF_FFFF
        case VirtioMMIORegister.configGeneration where !legacy: value = core.configGeneration
        default: value = 0   // write-only or reserved
        }
        return UInt64(value)
    }

    public func write(at offset: UInt64, size: Int, value: UInt64) {
        if offset >= VirtioMMIORegister.config {
            core.writeConfig(offset: offset - VirtioMMIORegister.config, size: size, value: value)
            return
        }
        guard size == 4, offset % 4 == 0 else { return }
        let legacy = options.version == .legacy
        let v = UInt32(truncatingIfNeeded: value)
        switch offset {
        case VirtioMMIORegister.deviceFeaturesSel: core.deviceFeatureSelect = v
        case VirtioMMIORegister.driverFeatures: core.writeDriverFeatureWord(v)
        case VirtioMMIORegister.driverFeaturesSel: core.driverFeatureSelect = v
        case VirtioMMIORegister.guestPageSize where legacy: core.legacyPageSize = v
        case VirtioMMIORegister.queueSel: core.queueSelect = v
        case VirtioMMIORegister.queueNum: core.modifySelectedQueue { $0.size = v }
        case VirtioMMIORegister.queueAlign where legacy: core.modifySelectedQueue { $0.legacyAlignment = v }
        case VirtioMMIORegister.queuePFN where legacy: core.modifySelectedQueue { $0.legacyPageFrame = v }
        case VirtioMMIORegister.queueReady where !legacy: core.modifySelectedQueue { $0.enabled = v & 1 != 0 }
        case VirtioMMIORegister.queueNotify: core.notify(queue: UInt64(v))
        case VirtioMMIORegister.interruptACK: interrupts.acknowledge(v)
        case VirtioMMIORegister.status: core.writeStatus(UInt8(truncatingIfNeeded: v))
        case VirtioMMIORegister.queueDescLow where !legacy: core.modifySelectedQueue { $0.setLow(\.descriptorTable, v) }
        case VirtioMMIORegister.queueDescHigh where !legacy: core.modifySelectedQueue { $0.setHigh(\.descriptorTable, v) }
        case VirtioMMIORegister.queueDriverLow where !legacy: core.modifySelectedQueue { $0.setLow(\.driverArea, v) }
        case VirtioMMIORegister.queueDriverHigh where !legacy: core.modifySelectedQueue { $0.setHigh(\.driverArea, v) }
        case VirtioMMIORegister.queueDeviceLow where !legacy: core.modifySelectedQueue { $0.setLow(\.deviceArea, v) }
        case VirtioMMIORegister.queueDeviceHigh where !legacy: core.modifySelectedQueue { $0.setHigh(\.deviceArea, v) }
        default: break   // read-only or reserved
        }
    }
}
