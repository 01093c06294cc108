import DeviceModel
import DeviceModelTesting
import VirtioDevices

/// Any virtio device wired to one transport on a ``SimulatedMachine`` — virtio-mmio at
/// ``TransportFixture/mmioBase`` or virtio-pci in slot ``TransportFixture/pciSlot`` — with
/// the register interface a ``VirtioTestDriver`` drives it through.
struct SimulatedTransportAttachment<Device: VirtioDevice> {
    /// The wired interrupt (virtio-mmio, PCI INTx).
    let line: RecordingInterruptLine
    let mmio: VirtioMMIOTransport<Device>?
    let pci: VirtioPCITransport<Device>?
    let bus: PCIBus?
    /// The driver's view of the registers, as `kind` says the driver uses them.
    let registers: any VirtioTestTransport

    init(_ device: Device, on machine: SimulatedMachine, as kind: TransportFixture.Kind) throws {
        line = try machine.interruptLine(gsi: kind.isPCI ? TransportFixture.pciGSI : TransportFixture.gsi)
        switch kind {
        case .mmio, .mmioLegacy:
            let t = try VirtioMMIOTransport(device: device, memory: machine.memory, interrupt: line,
                                            options: .init(version: kind == .mmio ? .modern : .legacy))
            try t.register(in: machine.dispatcher.memory, at: TransportFixture.mmioBase, ioEvents: machine.ioEvents)
            mmio = t
            pci = nil
            bus = nil
            registers = try VirtioMMIOTestTransport(machine: machine, base: TransportFixture.mmioBase)
        case .pci, .pciINTx, .pciTransitional, .pciLegacy, .pciLegacyMSIX:
            let modernDevice = kind == .pci || kind == .pciINTx
            let t = try VirtioPCITransport(device: device, memory: machine.memory, msi: machine.msi,
                                           ioEvents: machine.ioEvents,
                                           options: .init(mode: modernDevice ? .modern : .transitional))
            let bus = try PCIBus(dispatcher: machine.dispatcher, interruptLines: machine.interruptLines)
            try bus.attach(t, device: TransportFixture.pciSlot)
            mmio = nil
            pci = t
            self.bus = bus
            registers = try VirtioPCITestTransport(machine: machine, device: TransportFixture.pciSlot,
                                                   interface: kind.isLegacyDriver ? .legacy : .modern,
                                                   interruptMode: kind.usesMSIX ? .msix : .intx)
        }
    }

    /// Host-side view of the device status.
    var status: VirtioDeviceStatus { mmio?.status ?? pci?.status ?? [] }
    /// Why the transport set DEVICE_NEEDS_RESET.
    var needsResetReason: VirtioTransportError? { mmio?.needsResetReason ?? pci?.needsResetReason }

    /// Removes the register mapping (breaks the activation's reference cycle).
    func detach() { mmio?.unregister() }
}
