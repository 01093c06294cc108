import DeviceModel
import VirtioDevices
import X86Machine
#if canImport(Glibc)
import Glibc
#endif

/// The virtio devices a run asked for (`--disk`, `--rng`, `--console virtio`, `--net`), each on
/// its transport: a virtio-pci function on bus 0 (slots from 1 up, in option order) or a
/// virtio-mmio window of the machine layout (with its own GSI).
///
/// Devices only see ``DeviceModel`` protocols — guest memory, the MSI controller, interrupt
/// lines and the ioeventfd registrar of the run's ``MachineIOBackend`` — never KVM.
final class MachineVirtioDevices {
    /// PCI slots handed out, in order (slot 0 is the host bridge).
    static let firstPCISlot: UInt8 = 1

    /// The virtio-mmio windows in use, for the ACPI tables of a direct kernel boot.
    private(set) var mmioSlots: [VirtioMMIOSlot] = []
    /// Transports and devices: they must live as long as the machine.
    private var attached: [AnyObject] = []
    private var nextPCISlot = MachineVirtioDevices.firstPCISlot
    private var freeMMIOSlots: [VirtioMMIOSlot]

    private let ram: any GuestMemory
    private let bus: PCIBus
    private let dispatcher: IODispatcher
    private let io: MachineIOBackend

    init(
        configuration: RunConfiguration, layout: X86MemoryLayout, ram: any GuestMemory, bus: PCIBus,
        dispatcher: IODispatcher, io: MachineIOBackend
    ) throws(RunError) {
        self.ram = ram
        self.bus = bus
        self.dispatcher = dispatcher
        self.io = io
        freeMMIOSlots = layout.virtioMMIOSlots

        for (i, disk) in configuration.disks.enumerated() {
            let device: VirtioBlockDevice
            do {
                device = try VirtioBlockDevice(
                    configuration: VirtioBlockConfiguration(
                        path: disk.path, readOnly: disk.readOnly, serial: disk.serial, vcpus: configuration.cpus),
                    name: "virtio-blk\(i)")
            } catch {
                throw .fileUnusable(option: "--disk", path: disk.path, reason: "\(error)")
            }
            try attach(device, transport: disk.transport ?? configuration.transport, what: "--disk \(disk.path)")
        }
        if configuration.rng {
            do {
                try attach(try VirtioEntropyDevice(), transport: configuration.transport, what: "--rng")
            } catch let e as RunError {
                throw e
            } catch {
                throw .setupFailed("--rng: \(error)")
            }
        }
        if configuration.console == .virtio {
            let backend = StdioConsoleBackend(rawMode: isatty(STDIN_FILENO) == 1)
            do {
                try attach(try VirtioConsoleDevice(configuration: VirtioConsoleConfiguration(backend: backend)),
                           transport: configuration.transport, what: "--console virtio")
            } catch let e as RunError {
                throw e
            } catch {
                throw .setupFailed("--console virtio: \(error)")
            }
        }
        for (i, net) in configuration.nets.enumerated() {
            let mac = net.mac.flatMap { VirtioDevices.MACAddress(bytes: $0.octets) }
                ?? .locallyAdministered(seed: 0x12_3400 + UInt32(i))
            do {
                let tap = try TapDevice(name: net.tap)
                let device = try VirtioNetDevice(configuration: VirtioNetConfiguration(mac: mac), backend: tap)
                try attach(device, transport: configuration.transport, what: "--net tap=\(net.tap)")
            } catch let e as RunError {
                throw e
            } catch {
                throw .setupFailed("--net tap=\(net.tap): \(error)")
            }
        }
    }

    /// Puts `device` on `transport`.
    private func attach<Device: VirtioDevice>(_ device: Device, transport: VirtioTransportChoice, what: String) throws(RunError) {
        do {
            switch transport {
            case .pci, .pciTransitional:
                guard nextPCISlot < 32 else { throw RunError.setupFailed("\(what): no free PCI slot on bus 0") }
                let mode: VirtioPCITransport<Device>.Mode = transport == .pci ? .modern : .transitional
                let function = try VirtioPCITransport(
                    device: device, memory: ram, msi: io.msi, ioEvents: io.ioEvents, options: .init(mode: mode))
                try bus.attach(function, device: nextPCISlot)
                nextPCISlot += 1
                attached.append(function)
            case .mmio:
                guard !freeMMIOSlots.isEmpty else {
                    throw RunError.setupFailed("\(what): all \(VirtioMMIOSlot.gsis.count) virtio-mmio slots are in use")
                }
                let slot = freeMMIOSlots.removeFirst()
                let transport = try VirtioMMIOTransport(device: device, memory: ram, interrupt: try io.lines.line(gsi: slot.gsi))
                try transport.register(in: dispatcher.memory, at: slot.base, ioEvents: io.ioEvents)
                mmioSlots.append(slot)
                attached.append(transport)
            }
            attached.append(device)
        } catch let e as RunError {
            throw e
        } catch {
            throw .setupFailed("\(what): \(error)")
        }
    }
}
