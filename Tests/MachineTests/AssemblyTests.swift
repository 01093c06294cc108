import DeviceModel
import DeviceModelTesting
import Machine
import Synchronization
import Testing
import X86Machine

/// Devices from the catalogue placed on a machine's transports, on the simulated machine as
/// backend (the same code places them on KVM and Xen).
@Suite struct AssemblyTests {
    @Test func pciSlotsInOrderAndMMIOWindows() throws {
        let machine = try SimulatedMachine()
        let bus = try PCIBus(dispatcher: machine.dispatcher, interruptLines: machine.interruptLines, intxRouting: machine.pciINTxRouting)
        let layout = try X86MemoryLayout(ramSize: 64 << 20)
        let attacher = VirtioDeviceAttacher(
            backend: machine, bus: bus, pciSlots: [3, 5], mmio: (space: machine.dispatcher.memory, slots: Array(layout.virtioMMIOSlots.prefix(1))))
        let a = try attacher.attach(.entropy(EntropyDeviceSpec()), defaultTransport: .pci, context: DeviceBuildContext())
        let b = try attacher.attach(.entropy(EntropyDeviceSpec(transport: .pciTransitional)), defaultTransport: .pci, context: DeviceBuildContext())
        let c = try attacher.attach(.entropy(EntropyDeviceSpec()), defaultTransport: .mmio, context: DeviceBuildContext())
        #expect(a.pciAddress == PCIAddress(device: 3))
        #expect(b.pciAddress == PCIAddress(device: 5))
        #expect(c.mmioSlot == layout.virtioMMIOSlots[0])
        // Vendor 0x1AF4; device 0x1044 (modern rng) and 0x1005 (transitional rng).
        #expect(bus.readConfig(bus: 0, device: 3, function: 0, register: 0, size: 4) == 0x1044_1AF4)
        #expect(bus.readConfig(bus: 0, device: 5, function: 0, register: 0, size: 4) == 0x1005_1AF4)
        // virtio-mmio magic "virt" and device ID 4 in the window.
        #expect(try machine.vcpu.read(.memory, layout.virtioMMIOSlots[0].base, size: 4) == 0x7472_6976)
        #expect(try machine.vcpu.read(.memory, layout.virtioMMIOSlots[0].base + 8, size: 4) == 4)
        #expect(attacher.mmioSlots == [layout.virtioMMIOSlots[0]])

        // Out of room: one clear error naming the device and the transport.
        #expect(throws: MachineError.noFreeSlot(device: "virtio-rng", transport: .pci, reason: "all PCI slots offered to swiftdm are taken")) {
            try attacher.attach(.entropy(EntropyDeviceSpec()), defaultTransport: .pci, context: DeviceBuildContext())
        }
        #expect(throws: MachineError.self) {
            try attacher.attach(.entropy(EntropyDeviceSpec(transport: .mmio)), defaultTransport: .pci, context: DeviceBuildContext())
        }
    }

    @Test func aMissingImageNamesTheDevice() throws {
        let machine = try SimulatedMachine()
        let attacher = VirtioDeviceAttacher(backend: machine, bus: nil, pciSlots: [], mmio: nil)
        do {
            try attacher.attach(.block(BlockDeviceSpec(path: "/nonexistent/disk.img")), defaultTransport: .pci, context: DeviceBuildContext())
            Issue.record("attached a missing image")
        } catch {
            #expect("\(error)".hasPrefix("virtio-blk /nonexistent/disk.img: "), "\(error)")
        }
    }

    /// A served machine claims each device's function, follows the BARs, and starts; slots the
    /// hypervisor's other device models hold are skipped.
    @Test func ioServerMachineClaimsItsFunctions() throws {
        let server = try FakeIORequestServer()
        let machine = try IOServerMachine(
            server: server, devices: [.entropy(EntropyDeviceSpec()), .entropy(EntropyDeviceSpec())], slots: [0, 2, 4])
        #expect(machine.attachments.map(\.pciAddress) == [PCIAddress(device: 0), PCIAddress(device: 2)])
        #expect(server.log.withLock { $0 } == ["claim 0000:00:00.0", "claim 0000:00:02.0", "follow", "start"])
        machine.stop()
        #expect(server.log.withLock { $0 }.last == "stop")

        let refused = try FakeIORequestServer()
        #expect(throws: MachineError.self) {
            try IOServerMachine(server: refused, devices: [.entropy(EntropyDeviceSpec(transport: .mmio))])
        }
        #expect(refused.log.withLock { $0 } == ["stop"])
    }
}

/// An ioreq server stand-in over the simulated machine, recording what the machine asks of it.
final class FakeIORequestServer: IORequestServer {
    let simulated: SimulatedMachine
    let log = Mutex<[String]>([])

    init() throws { simulated = try SimulatedMachine() }

    var dispatcher: IODispatcher { simulated.dispatcher }
    var guestMemory: MappedGuestMemory { simulated.memory }
    var ioEvents: SoftwareIOEvents { simulated.ioEvents }
    var msi: RecordingMSIController { simulated.msi }
    var interruptLines: RecordingInterruptLineProvider { simulated.interruptLines }
    var pciINTxRouting: PCIINTxRouting { simulated.pciINTxRouting }

    func claimPCIFunction(_ address: PCIAddress) throws { log.withLock { $0.append("claim \(address)") } }
    func followRegistrations() { log.withLock { $0.append("follow") } }
    func start() throws { log.withLock { $0.append("start") } }
    func stop() { log.withLock { $0.append("stop") } }
}
