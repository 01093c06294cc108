import DeviceModel
import KVMGlue
import X86Machine
import XenSimulation

/// swiftdm's x86 machine on KVM: one VM, its RAM, the PC platform devices, the PCI host bridge
/// and the vCPUs, assembled from a checked ``RunConfiguration``.
///
/// The machine model lives here, in the launcher — not in devices: which devices exist, where
/// they sit and how they are wired is decided once, below.
final class KVMMachine {
    let configuration: RunConfiguration
    let vm: KVMVirtualMachine
    let layout: X86MemoryLayout
    let ram: MappedGuestMemory
    let dispatcher = IODispatcher()
    let io: MachineIOBackend
    let routing: KVMGSIRouting
    let platform: X86LegacyDevices
    let pciBus: PCIBus
    let hostBridge: PCIHostBridge
    let virtio: MachineVirtioDevices
    let vcpus: [KVMVCPU]
    /// The PC's INTx wiring (PIRQ A–D on GSIs 16–19), which the firmware tables describe.
    static let intxRouting = PCIINTxRouting.swizzled((16, 17, 18, 19))
    /// Objects that must live as long as the VM runs (ROM mappings, fw_cfg).
    private var keepAlive: [AnyObject] = []

    /// Builds the machine; nothing runs yet.
    /// - Parameters:
    ///   - serialOutput: where COM1's bytes go.
    ///   - debugOutput: where the firmware debug port 0x402 goes; `nil` leaves the port absent.
    ///   - events: power-off and reset requests from the platform devices.
    ///   - backend: the I/O backend; by default KVM end to end, or the simulated Xen for
    ///     `--ioreq xen-sim`.
    init(
        configuration: RunConfiguration, kvm: KVMSystem, serialOutput: @escaping SerialOutput, debugOutput: SerialOutput?,
        events: @escaping MachineEventHandler,
        backend: ((MachineIOContext) -> MachineIOBackend)? = nil
    ) throws(RunError) {
        self.configuration = configuration
        var simulatedRAM: SimulatedGuestRAM?
        do {
            layout = try X86MemoryLayout(ramSize: configuration.memory.bytes)
        } catch {
            throw .badValue(option: "--memory", value: "\(configuration.memory)", expected: "\(error)")
        }
        do {
            vm = try kvm.createVM()
            try vm.setupX86Platform()
            let ramLayout = try GuestRAMLayout(size: layout.ramSize, lowMemoryLimit: layout.pciHoleStart)
            switch configuration.ioreq {
            case .kvm:
                ram = try vm.mapRAM(ramLayout)
            case .xenSim:
                // One memfd, so the simulated Xen can foreign-map the frames KVM runs on.
                let shared = try SimulatedGuestRAM(layout: ramLayout.ranges.map { (guestBase: $0.base, length: $0.length) })
                try vm.mapRAM(shared.memory)
                ram = shared.memory
                simulatedRAM = shared
            }
            // The MADT and MP tables announce ISA IRQ 0 on GSI 2: route the PIT's GSI 0 to pin 2.
            routing = KVMGSIRouting(vm: vm, irqchipRoutes: KVMGSIRouting.pcCompatibleRoutes)
            try routing.install()
        } catch {
            throw .setupFailed("\(error)")
        }
        if let simulatedRAM {
            do {
                io = try XenSimulatedBackend.make(
                    vm: vm, dispatcher: dispatcher, ram: simulatedRAM, vcpuCount: configuration.cpus,
                    machineINTxRouting: Self.intxRouting)
            } catch {
                throw .setupFailed("--ioreq xen-sim: \(error)")
            }
        } else {
            io = (backend ?? MachineIOBackend.kvm)(
                MachineIOContext(vm: vm, routing: routing, dispatcher: dispatcher, ram: ram, cpuCount: configuration.cpus))
        }

        do {
            platform = try X86LegacyDevices(
                layout: layout, cpuCount: configuration.cpus, interrupts: io.lines, serialOutput: serialOutput,
                debugOutput: debugOutput, events: events)
            try platform.register(in: dispatcher)
            pciBus = try PCIBus(dispatcher: dispatcher, interruptLines: io.lines, intxRouting: io.intxRouting)
            hostBridge = try PCIHostBridge(
                bus: pciBus, model: .i440fx, ecam: try PCIECAMWindow(base: layout.ecam.base, busCount: Int(X86MemoryLayout.ecamBusCount)),
                resetControl: platform.resetControl)
        } catch {
            throw .setupFailed("platform devices: \(error)")
        }

        virtio = try MachineVirtioDevices(
            configuration: configuration, layout: layout, ram: io.guestMemory, bus: pciBus, dispatcher: dispatcher, io: io)

        do {
            let cpuid = try kvm.supportedCPUID()
            var vcpus: [KVMVCPU] = []
            for id in 0..<configuration.cpus {
                let v = try vm.createVCPU(id: id)
                try v.setCPUID(cpuid.forVCPU(id, of: configuration.cpus))
                vcpus.append(v)
            }
            self.vcpus = vcpus
        } catch {
            throw .setupFailed("\(error)")
        }

        switch configuration.boot {
        case .firmware(let path):
            try loadFirmware(path: path)
        case .kernel(let path, let initrd, let commandLine):
            try loadKernel(path: path, initrd: initrd, commandLine: commandLine)
        }
    }

    /// Maps the BIOS below 4 GiB and at 0xE0000, gives it fw_cfg, and starts vCPU 0 at the
    /// reset vector; the other vCPUs wait for the firmware's INIT/SIPI.
    private func loadFirmware(path: String) throws(RunError) {
        do {
            let image = try FirmwareImage(path: path)
            keepAlive.append(try image.load(into: vm, ram: ram))
            try vcpus[0].resetToPowerOnState()
        } catch {
            throw .fileUnusable(option: "--firmware", path: path, reason: "\(error)")
        }
        do {
            var e820 = layout.e820Map
            e820.add(base: KVMVirtualMachine.reservedRange.base, length: KVMVirtualMachine.reservedRange.length, type: .reserved)
            var files: [FirmwareConfig.File] = [
                FirmwareConfig.File(name: "etc/e820", bytes: e820.bytes),
                .integer("etc/boot-cpus", UInt64(configuration.cpus), size: 2),
            ]
            if configuration.console == .serial {
                // SeaBIOS's serial console: its own and the boot loader's int 10h text on COM1.
                files.append(.integer("etc/sercon-port", X86LegacyDevices.com1Base, size: 2))
            }
            let fwcfg = try FirmwareConfig(
                cpuCount: configuration.cpus, files: files, items: [FirmwareConfig.irq0OverrideKey: [1, 0, 0, 0]])
            try dispatcher.ports.register(base: FirmwareConfig.selectorPort, length: FirmwareConfig.portCount, name: "fw_cfg", handler: fwcfg)
            keepAlive.append(fwcfg)
        } catch {
            throw .setupFailed("fw_cfg: \(error)")
        }
    }

    /// Loads a bzImage, initrd and command line, writes the ACPI tables, and starts vCPU 0 at the
    /// kernel's 64-bit entry point with identity-mapped page tables.
    private func loadKernel(path: String, initrd: String?, commandLine: String) throws(RunError) {
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
                layout: layout, cpuCount: configuration.cpus, virtioMMIODevices: virtio.mmioSlots)
            let tables = try FirmwareTables(platform: description)
            try tables.write(to: ram)
            let info = try LinuxLoader.load(
                kernel: kernel, initrd: initrdBytes, commandLine: commandLine, layout: layout,
                acpiRSDPAddress: tables.rsdpAddress, into: ram)
            let entry = LongModeEntry(
                entryPoint: info.entryPoint64, stackPointer: LinuxBootAddresses.zeroPage, bootParams: info.bootParamsAddress,
                gdtAddress: LinuxBootAddresses.gdt, pageTableAddress: LinuxBootAddresses.pageTables)
            try vcpus[0].enterLongMode(entry, memory: ram)
        } catch {
            throw .setupFailed("loading \(path): \(error)")
        }
    }
}
