import DeviceModel

/// A machine without a hypervisor, for testing devices through their registers only.
///
/// It wires the pieces a backend would provide, all in-process:
/// - guest RAM (``memory``), anonymous memory laid out like a guest's;
/// - an ``IODispatcher`` (``dispatcher``) where devices register their port, MMIO and PCI
///   configuration ranges;
/// - software ioeventfds (``ioEvents``), consulted by the dispatcher before any handler, as
///   the Xen backend does (KVM does the same in the kernel);
/// - a recording ``MSIController`` (``msi``) and ``InterruptLineProvider``
///   (``interruptLines``) whose deliveries a test can inspect and wait for;
/// - vCPUs (``vcpu``, ``makeVCPU(index:)``) that issue ``IORequest``s as exits do;
/// - a bump ``GuestAllocator`` (``allocator``) for laying out buffers and rings like a driver.
///
/// A device under test is given `machine.memory`, `machine.msi`, `machine.ioEvents` and
/// so on in place of a backend's, and the test then plays the guest driver:
///
/// ```swift
/// let machine = try SimulatedMachine()
/// try machine.dispatcher.memory.register(base: 0xfeb0_0000, length: 0x1000, name: "dev", handler: device)
/// let ring = try machine.allocator.allocate(4096, alignment: 4096)
/// try machine.vcpu.write(.memory, 0xfeb0_0010, size: 8, value: ring.address)
/// ```
///
/// Devices that need an ``EventLoop`` get one from the test, which shuts it down at the end.
public final class SimulatedMachine: Sendable {
    /// Default guest RAM: 16 MiB at guest-physical 0 (reserved, not committed, until touched).
    public static let defaultRAM: [(guestBase: UInt64, length: UInt64)] = [(0, 16 << 20)]

    /// Guest RAM.
    public let memory: MappedGuestMemory
    /// Port, MMIO and PCI configuration dispatch.
    public let dispatcher: IODispatcher
    /// Recorded MSI deliveries.
    public let msi: RecordingMSIController
    /// Recorded wired-interrupt lines (GSIs).
    public let interruptLines: RecordingInterruptLineProvider
    /// Allocates from the first RAM region, above its first page when it starts at 0 (so
    /// guest-physical 0, a typical "unset" address, is never handed out).
    public let allocator: GuestAllocator
    /// vCPU 0.
    public let vcpu: SimulatedVCPU

    /// Creates a machine with RAM at `ram` (regions may be adjacent but not overlap) and
    /// GSIs `0..<interruptLineCount`.
    public init(
        ram: [(guestBase: UInt64, length: UInt64)] = SimulatedMachine.defaultRAM,
        interruptLineCount: UInt32 = 24
    ) throws(SimulationError) {
        do {
            memory = try MappedGuestMemory.anonymous(ram)
        } catch let e as GuestMemoryError {
            throw .guestMemory(e)
        } catch {
            throw .guestMemory(.outOfRange(gpa: ram.first?.guestBase ?? 0, length: 0))
        }
        guard let first = memory.regions.first else {
            throw .guestMemory(.outOfRange(gpa: 0, length: 0))
        }
        let skip: UInt64 = first.guestBase == 0 && first.length > 0x1000 ? 0x1000 : 0
        allocator = try GuestAllocator(memory: memory, base: first.guestBase + skip, length: first.length - skip)
        dispatcher = IODispatcher()
        msi = RecordingMSIController()
        interruptLines = RecordingInterruptLineProvider(lineCount: interruptLineCount)
        vcpu = SimulatedVCPU(index: 0, dispatcher: dispatcher, memory: memory)
    }

    /// The software ioeventfd table (an ``IOEventRegistrar``) to hand to transports.
    public var ioEvents: SoftwareIOEvents { dispatcher.softwareIOEvents }

    /// Another vCPU on the same dispatcher and RAM (for concurrent-access tests).
    public func makeVCPU(index: Int) -> SimulatedVCPU {
        SimulatedVCPU(index: index, dispatcher: dispatcher, memory: memory)
    }

    /// The recording line for `gsi`.
    public func interruptLine(gsi: UInt32) throws(InterruptError) -> RecordingInterruptLine {
        try interruptLines.recordingLine(gsi: gsi)
    }

    /// Creates an eventfd and registers it for `match` in ``ioEvents``.
    public func registerIOEvent(_ match: IOEventMatch) throws(SimulationError) -> EventNotifier {
        let notifier: EventNotifier
        do { notifier = try EventNotifier() } catch { throw .eventNotifier(error) }
        do { try ioEvents.register(match, notifier: notifier) } catch { throw .ioEvent(error) }
        return notifier
    }
}

/// The simulated machine is a backend like KVM or Xen: devices and transports built on it see
/// its RAM, its software ioeventfds and its recording interrupt controllers.
extension SimulatedMachine: MachineBackend {
    public var guestMemory: MappedGuestMemory { memory }
    /// A PC's PIRQ swizzle onto GSIs 16–19.
    public var pciINTxRouting: PCIINTxRouting { .swizzled((16, 17, 18, 19)) }
}
