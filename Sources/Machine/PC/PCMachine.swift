import DeviceModel
import Display
import Logging
import X86Machine

/// swiftdm's PC: guest RAM, the platform devices (UART, CMOS, i8042, ACPI PM, reset), the PCI
/// host bridge and bus, the virtio devices, and the boot image, assembled from a
/// ``PCConfiguration`` on any ``X86Accelerator``.
///
/// Which devices exist, where they sit and how they are wired is decided here, once; the
/// accelerator only maps memory, runs vCPUs and hands back their exits. An embedder builds and
/// runs a KVM PC in a few lines:
///
/// ```swift
/// import KVMGlue
/// import Machine
///
/// var config = PCConfiguration(boot: .firmware(path: "/usr/share/seabios/bios.bin"))
/// config.devices = [.block(BlockDeviceSpec(path: "disk.img")), .entropy(EntropyDeviceSpec())]
/// let machine = try PCMachine(configuration: config, accelerator: try KVMAccelerator())
/// let outcome = machine.run()   // serial on stdout, until the guest powers off
/// ```
public final class PCMachine {
    /// The PC's INTx wiring (PIRQ A–D on GSIs 16–19), which the firmware tables describe.
    public static let intxRouting = PCIINTxRouting.swizzled((16, 17, 18, 19))
    /// PCI slots virtio-pci functions take, in order (slot 0 is the host bridge).
    public static let virtioPCISlots: [UInt8] = Array(1..<32)

    public let configuration: PCConfiguration
    public let layout: X86MemoryLayout
    /// Guest RAM: anonymous memory with transparent huge pages on the direct path, a memfd
    /// (``DeviceModel/SharedGuestRAM``) when an interposed I/O path maps it a second time.
    public let ram: MappedGuestMemory
    public let dispatcher = IODispatcher()
    /// The paths devices use: the accelerator's own, or the interposed one.
    public let backend: any MachineBackend
    public let platform: X86LegacyDevices
    public let pciBus: PCIBus
    public let hostBridge: PCIHostBridge
    /// The virtio devices and where they went.
    public let devices: VirtioDeviceAttacher
    /// The screens virtio-gpu draws and the router to the input devices, for outputs (VNC,
    /// screenshots) to attach to; `nil` when the machine has neither.
    public let display: GuestDisplay?
    /// When the run passed its milestones (setup, vCPUs started, the guest's boot-complete
    /// signal on port 0x3F0, its power-off).
    public let timeline: MachineTimeline
    /// Every exit by address with the time devices spent on it, when built with `profileExits`.
    public let exitProfile: IOExitProfile?

    let accelerator: any X86Accelerator
    /// QEMU's fw_cfg interface, on a firmware boot.
    public private(set) var firmwareConfig: FirmwareConfig?
    /// The BIOS of a firmware boot, whose legacy copy a reset writes into RAM again.
    private(set) var firmwareImage: FirmwareImage?
    private let sink: any IORequestSink
    /// Objects that must live as long as the machine (fw_cfg, the interposed path's owner).
    private var keepAlive: [AnyObject] = []

    /// Guests with at least this much RAM get transparent huge pages. Below it, the 2 MiB that
    /// every touched region costs outweighs the TLB reach: a 64 MiB firmware guest touches a
    /// few hundred KiB but would hold two huge pages (4 MiB) resident.
    public static let hugePageMinimumRAM: UInt64 = 256 << 20

    /// Builds the machine; nothing runs until ``start()``.
    ///
    /// - Parameters:
    ///   - serialOutput: where COM1's bytes go.
    ///   - debugOutput: where the firmware debug port 0x402 goes; `nil` leaves the port absent.
    ///   - interposer: builds an I/O path that every exit takes instead of the accelerator's
    ///     direct one (`--ioreq xen-sim`); `nil` for the direct path.
    ///   - profileExits: count every exit by address and time its handling (``exitProfile``);
    ///     costs a lock per exit.
    ///   - snapshot: a machine saved by ``saveSnapshot(to:)`` with this configuration (same
    ///     RAM, vCPUs, devices, disks and taps): the new machine continues it when started.
    public init(
        configuration: PCConfiguration, accelerator: any X86Accelerator,
        serialOutput: @escaping SerialOutput = TerminalConsole.write, debugOutput: SerialOutput? = nil,
        interposer: ((InterposedIOPathContext) throws -> any InterposedIOPath)? = nil,
        profileExits: Bool = false,
        restoring snapshot: MachineSnapshot? = nil,
        logger: Logger = Logger(label: "swiftdm.machine")
    ) throws(MachineError) {
        let timeline = MachineTimeline()
        timeline.record(.setupStarted)
        self.timeline = timeline
        try configuration.validate()
        self.configuration = configuration
        self.accelerator = accelerator
        do {
            layout = try X86MemoryLayout(ramSize: configuration.memory.bytes)
        } catch {
            throw .badValue(option: "--memory", value: "\(configuration.memory)", expected: "\(error)")
        }
        do {
            let served: any IORequestSink
            if let interposer {
                let shared = try SharedGuestRAM(layout: layout.ramRegions)
                ram = shared.memory
                try accelerator.mapRAM(ram)
                let direct = try accelerator.directBackend(ram: ram, dispatcher: dispatcher, pciINTxRouting: Self.intxRouting)
                let path = try interposer(
                    InterposedIOPathContext(ram: shared, dispatcher: dispatcher, direct: direct, vcpuCount: configuration.cpus))
                backend = path
                served = path
            } else {
                ram = try MappedGuestMemory.anonymous(layout.ramRegions,
                                                      hugePages: configuration.memory.bytes >= Self.hugePageMinimumRAM)
                try accelerator.mapRAM(ram)
                backend = try accelerator.directBackend(ram: ram, dispatcher: dispatcher, pciINTxRouting: Self.intxRouting)
                served = dispatcher
            }
            exitProfile = profileExits ? IOExitProfile(wrapping: served, names: dispatcher) : nil
            sink = exitProfile ?? served
        } catch {
            throw .setupFailed("\(error)")
        }

        let stopOnEvent: MachineEventHandler = { [accelerator, timeline] event in
            timeline.record(.guestStopped)
            switch event {
            case .powerOff: accelerator.stop(.powerOff)
            case .reset: accelerator.stop(.reset)
            case .guestPanic: accelerator.stop(.guestPanic)
            }
        }
        do {
            platform = try X86LegacyDevices(
                layout: layout, cpuCount: configuration.cpus, interrupts: backend.interruptLines, serialOutput: serialOutput,
                debugOutput: debugOutput, events: stopOnEvent)
            try platform.register(in: dispatcher)
            try dispatcher.ports.register(
                base: BootTimerPort.portAddress, length: 1, name: "boot timer",
                handler: BootTimerPort { [timeline] in timeline.record(.bootCompleted) })
            pciBus = try PCIBus(dispatcher: dispatcher, interruptLines: backend.interruptLines, intxRouting: backend.pciINTxRouting)
            hostBridge = try PCIHostBridge(
                bus: pciBus, model: .i440fx,
                ecam: try PCIECAMWindow(base: layout.ecam.base, busCount: Int(X86MemoryLayout.ecamBusCount)),
                resetControl: platform.resetControl)
        } catch {
            throw .setupFailed("platform devices: \(error)")
        }

        devices = VirtioDeviceAttacher(
            backend: backend, bus: pciBus, pciSlots: Self.virtioPCISlots,
            mmio: (space: dispatcher.memory, slots: layout.virtioMMIOSlots))
        let display = configuration.scanoutCount > 0 ? GuestDisplay(scanouts: configuration.scanoutCount) : nil
        self.display = display
        for (index, spec) in configuration.devices.enumerated() {
            try devices.attach(
                spec, defaultTransport: configuration.defaultTransport,
                context: DeviceBuildContext(vcpuCount: configuration.cpus, index: index, logger: logger, display: display))
        }

        let boot: X86CPUState
        switch configuration.boot {
        case .firmware(let path):
            boot = try loadFirmware(path: path)
        case .kernel(let path, let initrd, let commandLine):
            boot = try loadKernel(path: path, initrd: initrd, commandLine: commandLine)
        }
        if let snapshot {
            // The boot image was loaded as for a fresh start (firmware mapped, fw_cfg built);
            // RAM, processors and devices now take the saved state over it.
            try restore(snapshot, interposed: interposer != nil)
            return
        }
        do {
            try accelerator.createProcessors(count: configuration.cpus, boot: boot)
        } catch {
            throw .setupFailed("\(error)")
        }
    }

    /// Starts the vCPUs.
    public func start() throws(MachineError) {
        timeline.record(.vcpusStarted)
        do {
            try accelerator.start(sink: sink)
        } catch {
            throw .setupFailed("\(error)")
        }
    }

    /// Asks the machine to stop; ``wait()`` then returns `reason` (unless another came first).
    public func stop(_ reason: MachineStopReason = .host) {
        accelerator.stop(reason)
    }

    /// Waits until the run ends.
    public func wait() -> MachineRunOutcome {
        accelerator.wait()
    }

    /// Starts the vCPUs and waits until the run ends (a guest power-off or reset, a ``stop(_:)``,
    /// or a vCPU failure).
    public func run() -> MachineRunOutcome {
        do {
            try start()
        } catch {
            return .failed("\(error)")
        }
        return wait()
    }

    /// The guest's memory map, for the firmware (fw_cfg `etc/e820`) and a kernel's boot_params
    /// alike: the layout's RAM and holes, and the pages the accelerator keeps for itself.
    public var e820Map: E820Map {
        var e820 = layout.e820Map
        for range in accelerator.reservedRanges {
            e820.add(base: range.base, length: range.length, type: .reserved)
        }
        return e820
    }

    /// Maps the BIOS below 4 GiB and its last 128 KiB at 0xE0000, and gives it fw_cfg; vCPU 0
    /// starts at the reset vector.
    private func loadFirmware(path: String) throws(MachineError) -> X86CPUState {
        do {
            let image = try FirmwareImage(path: path)
            try accelerator.mapFirmware(image)
            try image.writeLegacyCopy(to: ram)
            firmwareImage = image
        } catch {
            throw .fileUnusable(option: "--firmware", path: path, reason: "\(error)")
        }
        do {
            var files: [FirmwareConfig.File] = [
                FirmwareConfig.File(name: "etc/e820", bytes: e820Map.bytes),
                .integer("etc/boot-cpus", UInt64(configuration.cpus), size: 2),
            ]
            if configuration.serialConsole {
                // SeaBIOS's serial console: its own and the boot loader's int 10h text on COM1.
                files.append(.integer("etc/sercon-port", X86LegacyDevices.com1Base, size: 2))
            }
            let fwcfg = try FirmwareConfig(
                cpuCount: configuration.cpus, files: files, items: [FirmwareConfig.irq0OverrideKey: [1, 0, 0, 0]])
            try dispatcher.ports.register(
                base: FirmwareConfig.selectorPort, length: FirmwareConfig.portCount, name: "fw_cfg", handler: fwcfg)
            keepAlive.append(fwcfg)
            firmwareConfig = fwcfg
        } catch {
            throw .setupFailed("fw_cfg: \(error)")
        }
        return X86CPUState.powerOn
    }

    /// Loads a bzImage, initrd and command line and writes the ACPI tables; vCPU 0 starts at the
    /// kernel's 64-bit entry point with identity-mapped page tables.
    func loadKernel(path: String, initrd: String?, commandLine: String) throws(MachineError) -> X86CPUState {
        let kernel: LinuxKernelImage
        let initrdBytes: [UInt8]?
        do {
            kernel = try LinuxKernelImage(path: path)
        } catch {
            throw .fileUnusable(option: "--kernel", path: path, reason: "\(error)")
        }
        do {
            initrdBytes = try initrd.map { p throws(LinuxBootError) in try LinuxLoader.readInitrd(path: p) }
        } catch {
            throw .fileUnusable(option: "--initrd", path: initrd ?? "", reason: "\(error)")
        }
        do {
            let description = try X86PlatformDescription(
                layout: layout, cpuCount: configuration.cpus, virtioMMIODevices: devices.mmioSlots)
            let tables = try FirmwareTables(platform: description)
            try tables.write(to: ram)
            let info = try LinuxLoader.load(
                kernel: kernel, initrd: initrdBytes, commandLine: commandLine, layout: layout,
                acpiRSDPAddress: tables.rsdpAddress, e820: e820Map, into: ram)
            let entry = LongModeEntry(linux: info)
            try entry.writeTables(to: ram)
            return entry.cpuState
        } catch {
            throw .setupFailed("loading \(path): \(error)")
        }
    }
}
