import DeviceModel
import Logging
import Synchronization
import X86Machine

/// KVM as an x86 machine's accelerator: one VM with the in-kernel irqchip and PIT, its memory
/// slots, its vCPUs and their threads.
///
/// Hands every port-I/O and MMIO exit to the sink it is started with; decides nothing x86 of its
/// own (the machine supplies the memory layout, the firmware's placement and the boot state).
public final class KVMAccelerator: SnapshottableAccelerator, ResettableAccelerator {
    public let system: KVMSystem
    public let vm: KVMVirtualMachine
    /// The VM's GSI routing table (irqchip routes installed; MSI routes are added on demand).
    public let routing: KVMGSIRouting
    /// The in-kernel PICs, IOAPIC and PIT as KVM created them, for ``resetProcessors(boot:)``.
    let powerOnPlatform: KVMVMState
    private let logger: Logger

    struct State {
        var vcpus: [KVMVCPU] = []
        var runner: VCPURunner?
        var pendingStop: MachineStopReason?
        /// ROM slots must stay mapped while the VM runs.
        var firmware: [ROMMapping] = []
        /// True from a ``pause()`` that parked every vCPU until ``resume()``.
        var paused = false
        /// The kvmclock as ``pause()`` found it: ``resume()`` sets it again, so that the guest's
        /// clock does not count the time it was stopped (QEMU's `kvmclock_vm_state_change`),
        /// and a snapshot of the paused machine saves it.
        var pausedClock: UInt64?
        /// A restored kvmclock, set by ``start(sink:)`` just before the vCPUs run.
        var pendingClock: UInt64?
        /// Each vCPU as KVM created it (with its CPUID, before any boot or restored state), for
        /// ``resetProcessors(boot:)``.
        var powerOnVCPUs: [KVMVCPUState] = []
    }
    /// Held while the vCPU list, the runner or the pause state is read or changed — and for all of
    /// ``saveProcessorState()``, so that a ``resume()`` waits until the state has been read.
    let state = Mutex(State())

    /// Opens `/dev/kvm` (or uses `system`) and creates a VM with the PC's in-kernel irqchip,
    /// PIT and interrupt routing (the MADT and MP tables announce ISA IRQ 0 on GSI 2, so the
    /// PIT's GSI 0 is routed to pin 2).
    public init(system given: KVMSystem? = nil, logger: Logger = Logger(label: "swiftdm.kvm")) throws(KVMError) {
        let system: KVMSystem
        if let given { system = given } else { system = try KVMSystem() }
        self.system = system
        vm = try system.createVM()
        try vm.setupX86Platform()
        powerOnPlatform = try vm.saveState(vcpuCount: 0)
        routing = KVMGSIRouting(vm: vm, irqchipRoutes: KVMGSIRouting.pcCompatibleRoutes)
        try routing.install()
        self.logger = logger
    }

    public var reservedRanges: [AddressRange] { [KVMVirtualMachine.reservedRange] }

    public func mapRAM(_ ram: MappedGuestMemory) throws {
        try vm.mapRAM(ram)
    }

    public func mapFirmware(_ image: FirmwareImage) throws {
        let mapping = try vm.mapFirmware(image)
        state.withLock { $0.firmware.append(mapping) }
    }

    public func directBackend(ram: MappedGuestMemory, dispatcher: IODispatcher, pciINTxRouting: PCIINTxRouting) throws -> any MachineBackend {
        KVMDirectBackend(vm: vm, routing: routing, ram: ram, dispatcher: dispatcher, pciINTxRouting: pciINTxRouting)
    }

    public func createProcessors(count: Int, boot: X86CPUState) throws {
        var cpuid = try system.supportedCPUID()
        if system.supports(.tscDeadlineTimer) { cpuid = cpuid.withTSCDeadlineTimer() }
        let limits = try KVMStateLimits(system: system)
        var vcpus: [KVMVCPU] = []
        var powerOn: [KVMVCPUState] = []
        for id in 0..<count {
            let vcpu = try vm.createVCPU(id: id)
            try vcpu.setCPUID(cpuid.forVCPU(id, of: count))
            powerOn.append(try vcpu.saveState(limits: limits))
            vcpus.append(vcpu)
        }
        if let first = vcpus.first { try first.setRegisters(boot) }
        state.withLock { s in
            s.vcpus = vcpus
            s.powerOnVCPUs = powerOn
        }
    }

    /// The vCPUs, once created.
    public var vcpus: [KVMVCPU] { state.withLock { $0.vcpus } }

    public func start(sink: any IORequestSink) throws {
        let vcpus = self.vcpus
        let runner = try VCPURunner(vcpus: vcpus, sink: sink, logger: logger)
        // A restored guest's clock continues from the saved time, not from the restore's.
        if let clock = state.withLock({ $0.pendingClock }) {
            try vm.setClock(nanoseconds: clock)
            for vcpu in vcpus { vcpu.reportHostPause() }
            state.withLock { $0.pendingClock = nil }
        }
        let pending: MachineStopReason? = state.withLock { s in
            s.runner = runner
            return s.pendingStop
        }
        try runner.start()
        if let pending { runner.stop(Self.vmStopReason(pending)) }
    }

    public func stop(_ reason: MachineStopReason) {
        let runner: VCPURunner? = state.withLock { s in
            if s.runner == nil, s.pendingStop == nil { s.pendingStop = reason }
            return s.runner
        }
        runner?.stop(Self.vmStopReason(reason))
    }

    public func wait() -> MachineRunOutcome {
        guard let runner = state.withLock({ $0.runner }) else {
            return .failed("the vCPUs were never started")
        }
        switch runner.wait() {
        case .stopped(.powerOff): return .stopped(.powerOff)
        case .stopped(.reset): return .stopped(.reset)
        case .stopped(.guestExit(let status)): return .stopped(.guestExit(status))
        case .stopped(.guestPanic): return .stopped(.guestPanic)
        case .stopped(.host), nil: return .stopped(.host)
        case .failed(let error): return .failed("\(error)")
        }
    }

    /// Pauses the vCPUs (``VCPURunner/pause()``) and holds the guest's clock: the kvmclock is
    /// read once no vCPU runs (`KVM_GET_CLOCK`) and set back by ``resume()``. False before
    /// ``start(sink:)`` or after the run.
    public func pause() -> Bool {
        guard let runner = state.withLock({ $0.runner }) else { return false }
        guard runner.pause() else { return false }
        // Read after every vCPU stopped: no guest code ran past this time. A second pause keeps
        // the first one's value.
        var clock: UInt64?
        do { clock = try vm.clock() } catch { logger.warning("the guest's clock will run on while paused: \(error)") }
        state.withLock { s in
            if !s.paused { s.pausedClock = clock }
            s.paused = true
        }
        return true
    }

    /// True from a ``pause()`` that parked every vCPU until ``resume()``.
    public var isPaused: Bool { state.withLock { $0.paused } }

    /// Resumes paused vCPUs (``VCPURunner/resume()``): the kvmclock continues from where
    /// ``pause()`` held it (`KVM_SET_CLOCK`), and a kvmclock guest is told it was paused
    /// (``KVMVCPU/reportHostPause()``) — as QEMU does at `cont`. Waits for a
    /// ``saveProcessorState()`` in progress to finish first.
    public func resume() {
        let (runner, wasPaused, clock) = state.withLock { s in
            defer {
                s.paused = false
                s.pausedClock = nil
            }
            return (s.runner, s.paused, s.pausedClock)
        }
        if wasPaused {
            if let clock {
                do { try vm.setClock(nanoseconds: clock) } catch { logger.warning("the guest's clock counts the pause: \(error)") }
            }
            for vcpu in vcpus { vcpu.reportHostPause() }
        }
        runner?.resume()
    }

    private static func vmStopReason(_ reason: MachineStopReason) -> VMStopReason {
        switch reason {
        case .host: .host
        case .powerOff: .powerOff
        case .reset: .reset
        case .guestExit(let status): .guestExit(status: status)
        case .guestPanic: .guestPanic
        }
    }
}
