import DeviceModel
import DeviceModelTesting
import Virtio

/// A device on a real transport, ``VirtioMMIOTransport`` or ``VirtioPCITransport``, of a
/// ``SimulatedMachine``, and the driver-side ``VirtioTestTransport`` that reaches it through
/// the machine's dispatcher as a guest would.
///
/// virtio-mmio sits at ``mmioBase`` on GSI ``mmioGSI``; virtio-pci at slot ``pciSlot`` of
/// bus 0, whose INTA the default swizzle routes to GSI ``pciGSI``. Call ``detach()`` when
/// done: it unregisters the virtio-mmio window, which breaks the reference cycle between the
/// transport and an activated device.
public final class SimulatedTransportAttachment<Device: VirtioDevice> {
    /// Where the virtio-mmio window is mapped.
    public static var mmioBase: UInt64 { 0xD000_0000 }
    /// The virtio-mmio window's interrupt.
    public static var mmioGSI: UInt32 { 5 }
    /// The PCI slot on bus 0.
    public static var pciSlot: UInt8 { 3 }
    /// Slot 3, INTA: PIRQ (0 + 3) mod 4 = D, GSI 19 with the default swizzle.
    public static var pciGSI: UInt32 { 19 }

    /// The transport and driver interface in use.
    public let transport: SimulatedVirtioTransport
    /// The device behind the transport.
    public let device: Device
    /// The machine the transport is attached to.
    public let machine: SimulatedMachine
    /// The wired interrupt: the virtio-mmio line, or PCI INTx.
    public let line: RecordingInterruptLine
    /// The driver side of the transport, for a ``VirtioTestDriver``.
    public let driverTransport: any VirtioTestTransport
    /// The virtio-mmio transport, if that is the one in use.
    public let mmio: VirtioMMIOTransport<Device>?
    /// The virtio-pci transport, if that is the one in use.
    public let pci: VirtioPCITransport<Device>?
    /// The PCI bus holding ``pci``.
    public let bus: PCIBus?

    /// Puts `device` on `transport` in `machine` and enumerates it from the driver side.
    public init(_ transport: SimulatedVirtioTransport, device: Device, machine: SimulatedMachine) throws(VirtioTestingError) {
        self.transport = transport
        self.device = device
        self.machine = machine
        let gsi = transport.isPCI ? Self.pciGSI : Self.mmioGSI
        do { line = try machine.interruptLine(gsi: gsi) } catch { throw .interruptLine(gsi: gsi, error) }
        switch transport {
        case .mmio(let legacy):
            let t: VirtioMMIOTransport<Device>
            do throws(VirtioTransportError) {
                t = try VirtioMMIOTransport(device: device, memory: machine.memory, interrupt: line,
                                            options: .init(version: legacy ? .legacy : .modern))
                try t.register(in: machine.dispatcher.memory, at: Self.mmioBase, ioEvents: machine.ioEvents)
            } catch {
                throw .transport(error)
            }
            mmio = t
            pci = nil
            bus = nil
            do { driverTransport = try VirtioMMIOTestTransport(machine: machine, base: Self.mmioBase) } catch {
                t.unregister()
                throw .driver(error)
            }
        case .pci(let transitional, let interface, let interrupts):
            let t: VirtioPCITransport<Device>
            do {
                t = try VirtioPCITransport(device: device, memory: machine.memory, msi: machine.msi, ioEvents: machine.ioEvents,
                                           options: .init(mode: transitional ? .transitional : .modern))
            } catch {
                throw .transport(error)
            }
            let bus: PCIBus
            do throws(PCIError) {
                bus = try PCIBus(dispatcher: machine.dispatcher, interruptLines: machine.interruptLines)
                try bus.attach(t, device: Self.pciSlot)
            } catch {
                throw .pci(slot: Self.pciSlot, error)
            }
            mmio = nil
            pci = t
            self.bus = bus
            do {
                driverTransport = try VirtioPCITestTransport(machine: machine, device: Self.pciSlot,
                                                             interface: interface, interruptMode: interrupts)
            } catch {
                throw .driver(error)
            }
        }
    }

    /// The device status as the transport holds it (host side).
    public var status: VirtioDeviceStatus { mmio?.status ?? pci?.status ?? [] }

    /// Why the transport set `DEVICE_NEEDS_RESET`, until the next reset.
    public var needsResetReason: VirtioTransportError? { mmio?.needsResetReason ?? pci?.needsResetReason }

    /// Unregisters the virtio-mmio window (PCI functions stay on their bus). Idempotent.
    public func detach() { mmio?.unregister() }
}
