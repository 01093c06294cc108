import DeviceModel
import Virtio
import X86Machine

/// Puts virtio devices on a machine's transports: virtio-pci functions on PCI bus 0 (the slots
/// it was given, in order) or virtio-mmio windows (each with its own GSI).
///
/// Transports see only the ``MachineBackend``'s guest memory, MSI controller, interrupt lines
/// and ioeventfd registrar — never the hypervisor behind them.
public final class VirtioDeviceAttacher {
    /// Where one device went.
    public struct Attachment {
        /// What the device is (its spec's description, or the name it was attached under).
        public let name: String
        /// The device object.
        public let device: any VirtioDevice
        /// The transport it is on.
        public let transport: VirtioTransportKind
        /// Its PCI function, for the PCI transports.
        public let pciAddress: PCIAddress?
        /// Its window, for virtio-mmio.
        public let mmioSlot: VirtioMMIOSlot?
        /// The transport object, for saving, restoring and resetting its state (it also keeps
        /// the device reachable for as long as it lives).
        public let transportState: any VirtioTransportStateful & SystemResettable
    }

    private let backend: any MachineBackend
    private let bus: PCIBus?
    private var freePCISlots: [UInt8]
    private let mmioSpace: AddressSpace?
    private var freeMMIOSlots: [VirtioMMIOSlot]
    /// Everything attached, in order.
    public private(set) var attachments: [Attachment] = []

    /// - Parameters:
    ///   - pciSlots: the bus-0 device numbers virtio-pci functions may take, in the order given.
    ///   - mmio: the address space and windows for virtio-mmio, or `nil` where the machine has none.
    public init(backend: any MachineBackend, bus: PCIBus?, pciSlots: [UInt8], mmio: (space: AddressSpace, slots: [VirtioMMIOSlot])?) {
        self.backend = backend
        self.bus = bus
        freePCISlots = bus == nil ? [] : pciSlots
        mmioSpace = mmio?.space
        freeMMIOSlots = mmio?.slots ?? []
    }

    /// The virtio-mmio windows in use (for the ACPI tables of a direct kernel boot).
    public var mmioSlots: [VirtioMMIOSlot] { attachments.compactMap(\.mmioSlot) }

    /// Resets every device and its transport, as a machine-wide reset does
    /// (``DeviceModel/SystemResettable``): each device stops with its in-flight requests
    /// completed and reads status 0. The PCI functions are the bus's to reset, after this.
    public func systemReset() {
        for a in attachments { a.transportState.systemReset() }
    }

    /// Builds `spec`'s device and attaches it on its own transport or `defaultTransport`.
    @discardableResult
    public func attach(_ spec: VirtioDeviceSpec, defaultTransport: VirtioTransportKind, context: DeviceBuildContext) throws(MachineError)
        -> Attachment
    {
        let device = try DeviceCatalogue.makeDevice(spec, context: context)
        return try attach(device, transport: spec.transport ?? defaultTransport, name: spec.description)
    }

    /// Puts `device` on `transport`.
    @discardableResult
    public func attach(_ device: any VirtioDevice, transport: VirtioTransportKind, name: String) throws(MachineError) -> Attachment {
        let attachment: Attachment
        do {
            attachment = try place(device, transport: transport, name: name)
        } catch let e as MachineError {
            throw e
        } catch {
            throw .setupFailed("\(name): \(error)")
        }
        attachments.append(attachment)
        return attachment
    }

    private func place<Device: VirtioDevice>(_ device: Device, transport: VirtioTransportKind, name: String) throws -> Attachment {
        switch transport {
        case .pci, .pciTransitional:
            guard let bus else { throw MachineError.noFreeSlot(device: name, transport: transport, reason: "this machine has no PCI bus") }
            guard let slot = freePCISlots.first(where: { bus.function(device: $0, function: 0) == nil }),
                  let address = PCIAddress(bus: bus.number, device: slot, function: 0)
            else {
                throw MachineError.noFreeSlot(device: name, transport: transport, reason: "all PCI slots offered to swiftdm are taken")
            }
            let function = try VirtioPCITransport(
                device: device, memory: backend.guestMemory, msi: backend.msi, ioEvents: backend.ioEvents,
                options: .init(mode: transport == .pci ? .modern : .transitional))
            try bus.attach(function, device: slot)
            freePCISlots.removeAll { $0 == slot }
            return Attachment(name: name, device: device, transport: transport, pciAddress: address, mmioSlot: nil, transportState: function)
        case .mmio:
            guard let mmioSpace, !freeMMIOSlots.isEmpty else {
                throw MachineError.noFreeSlot(
                    device: name, transport: transport,
                    reason: mmioSpace == nil ? "this machine has no virtio-mmio windows" : "all \(VirtioMMIOSlot.gsis.count) virtio-mmio windows are in use")
            }
            let slot = freeMMIOSlots.removeFirst()
            let mmio = try VirtioMMIOTransport(device: device, memory: backend.guestMemory, interrupt: try backend.interruptLines.line(gsi: slot.gsi))
            try mmio.register(in: mmioSpace, at: slot.base, ioEvents: backend.ioEvents)
            return Attachment(name: name, device: device, transport: transport, pciAddress: nil, mmioSlot: slot, transportState: mmio)
        }
    }
}
