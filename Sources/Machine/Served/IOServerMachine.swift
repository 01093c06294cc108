import DeviceModel
import Logging

/// A machine whose requests arrive from the hypervisor through an ``IORequestServer`` (a Xen
/// ioreq server): PCI bus 0 with its virtio devices, no processors of its own.
///
/// Each device takes the first free slot of those offered (by default those after the Xen HVM
/// platform's, ``PCISlotList/afterXenfvPlatform``: the hypervisor's other device models may
/// own the rest); its function is claimed, and its ports and MMIO are claimed as the guest
/// programs its BARs.
///
/// ```swift
/// let server = try XenIoreqServer(domid: 5, hypervisor: try .openLibxen(), dispatcher: IODispatcher())
/// let machine = try IOServerMachine(server: server, devices: [.block(BlockDeviceSpec(path: "disk.img"))])
/// // … until done:
/// machine.stop()
/// ```
public final class IOServerMachine {

    public let server: any IORequestServer
    public let bus: PCIBus
    /// The devices and where they went.
    public let attachments: [VirtioDeviceAttacher.Attachment]
    /// What attached them (it saves and restores their state).
    let attacher: VirtioDeviceAttacher
    /// The HVM platform, when this machine is the domain's only device model.
    public let platform: HVMPlatform?

    /// Builds `devices` on `server`'s bus 0 and starts serving. On failure the server is stopped.
    ///
    /// - Parameter platform: builds the ``HVMPlatform`` (host bridge, PIIX3, UART, …) first,
    ///   for a device model that serves the domain alone; `nil` for one that serves beside
    ///   another (which owns the platform). The platform's slots are then never given to devices.
    /// - Parameter restoring: device state saved by ``saveDeviceState()`` of a machine built the
    ///   same way (`xl restore`): loaded after the devices are built and before anything is
    ///   served, so the guest never sees them in their reset state.
    public init(
        server: any IORequestServer, devices: [VirtioDeviceSpec], slots: [UInt8] = PCISlotList.afterXenfvPlatform.slots,
        vcpuCount: Int = 1, platform: HVMPlatform.Configuration? = nil, restoring: DeviceStateArchive? = nil,
        logger: Logger = Logger(label: "swiftdm.machine")
    ) throws(MachineError) {
        self.server = server
        do {
            bus = try PCIBus(
                dispatcher: server.dispatcher, interruptLines: server.interruptLines, intxRouting: server.pciINTxRouting, logger: logger)
        } catch {
            server.stop()
            throw .setupFailed("PCI bus: \(error)")
        }
        var deviceSlots = slots
        do {
            if let platform {
                let built = try HVMPlatform(bus: bus, interruptLines: server.interruptLines, configuration: platform)
                for address in built.pciFunctions { try server.claimPCIFunction(address) }
                deviceSlots.removeAll { HVMPlatform.slots.contains($0) }
                self.platform = built
            } else {
                self.platform = nil
            }
        } catch {
            server.stop()
            if let e = error as? MachineError { throw e }
            throw .setupFailed("HVM platform: \(error)")
        }
        let attacher = VirtioDeviceAttacher(backend: server, bus: bus, pciSlots: deviceSlots, mmio: nil)
        do {
            for (index, spec) in devices.enumerated() {
                // An HVM guest finds devices by PCI enumeration: virtio-mmio has nothing to announce it.
                if spec.transport == .mmio {
                    throw MachineError.noFreeSlot(device: spec.description, transport: .mmio, reason: "this machine offers virtio over PCI only")
                }
                var context = DeviceBuildContext(vcpuCount: vcpuCount, index: index, logger: logger)
                // Restoring (xl restore, xl migrate): the images' locks wait for lockImages(waitingUpTo:).
                context.incomingMigration = restoring != nil
                let attachment = try attacher.attach(spec, defaultTransport: .pci, context: context)
                if let address = attachment.pciAddress { try server.claimPCIFunction(address) }
            }
        } catch {
            server.stop()
            if let e = error as? MachineError { throw e }
            throw .setupFailed("\(error)")
        }
        attachments = attacher.attachments
        self.attacher = attacher
        do {
            // Restored BARs register in the dispatcher; the claims follow from here on.
            server.followRegistrations()
            if let restoring { try restoreDeviceState(restoring) }
            try server.start()
        } catch {
            server.stop()
            if let e = error as? MachineError { throw e }
            throw .setupFailed("\(error)")
        }
    }

    /// Stops serving and detaches; the devices stop when the machine is released.
    public func stop() {
        server.stop()
    }
}
