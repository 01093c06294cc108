import CKVM
#if canImport(Glibc)
import Glibc
#endif

// Saving and loading the VM-wide state (KVMVMState): in-kernel PICs, IOAPIC, PIT and kvmclock.

extension KVMVirtualMachine {
    /// Reads the interrupt controllers, the PIT and the clock of a VM with `vcpuCount` vCPUs.
    /// `KVM_GET_IRQCHIP` (PIC master, PIC slave, IOAPIC), `KVM_GET_PIT2`, `KVM_GET_CLOCK`.
    public func saveState(vcpuCount: Int) throws(KVMError) -> KVMVMState {
        let master = try irqchip(ckvm_irqchip_pic_master(), "PIC master")
        let slave = try irqchip(ckvm_irqchip_pic_slave(), "PIC slave")
        let ioapic = try irqchip(ckvm_irqchip_ioapic(), "IOAPIC")
        var pit = kvm_pit_state2()
        guard ckvm_get_pit2(fd, &pit) == 0 else { throw .ioctlFailed("KVM_GET_PIT2", errno: errno) }
        return KVMVMState(
            vcpuCount: vcpuCount, picMaster: master, picSlave: slave, ioapic: ioapic, pit: RawStruct.bytes(of: pit),
            clockNanoseconds: try clock())
    }

    /// Loads the interrupt controllers and the PIT of `state`, after the vCPUs' state (an IOAPIC
    /// with pending interrupts delivers them to the LAPICs at once, which a later `KVM_SET_LAPIC`
    /// would wipe). The clock is separate: ``setClock(nanoseconds:)``, just before the vCPUs run.
    /// `KVM_SET_IRQCHIP` ×3, `KVM_SET_PIT2`.
    public func restoreInterruptControllers(_ state: KVMVMState) throws(KVMError) {
        try setIRQChip(ckvm_irqchip_pic_master(), state.picMaster, "PIC master")
        try setIRQChip(ckvm_irqchip_pic_slave(), state.picSlave, "PIC slave")
        try setIRQChip(ckvm_irqchip_ioapic(), state.ioapic, "IOAPIC")
        guard var pit = RawStruct.load(kvm_pit_state2.self, from: state.pit) else {
            throw .invalidState("PIT state has \(state.pit.count) bytes, not \(MemoryLayout<kvm_pit_state2>.size)")
        }
        guard ckvm_set_pit2(fd, &pit) == 0 else { throw .ioctlFailed("KVM_SET_PIT2", errno: errno) }
    }

    /// The kvmclock in nanoseconds. `KVM_GET_CLOCK`.
    public func clock() throws(KVMError) -> UInt64 {
        var ns: UInt64 = 0
        guard ckvm_get_clock(fd, &ns) == 0 else { throw .ioctlFailed("KVM_GET_CLOCK", errno: errno) }
        return ns
    }

    /// Sets the kvmclock, so that guest time continues from `nanoseconds`. `KVM_SET_CLOCK`.
    public func setClock(nanoseconds: UInt64) throws(KVMError) {
        guard ckvm_set_clock(fd, nanoseconds) == 0 else { throw .ioctlFailed("KVM_SET_CLOCK(\(nanoseconds) ns)", errno: errno) }
    }

    private func irqchip(_ chip: UInt32, _ name: String) throws(KVMError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: KVMVMState.chipStateSize)
        let r = bytes.withUnsafeMutableBufferPointer { ckvm_get_irqchip(fd, chip, $0.baseAddress) }
        guard r == 0 else { throw .ioctlFailed("KVM_GET_IRQCHIP(\(name))", errno: errno) }
        return bytes
    }

    private func setIRQChip(_ chip: UInt32, _ bytes: [UInt8], _ name: String) throws(KVMError) {
        guard bytes.count == KVMVMState.chipStateSize else {
            throw .invalidState("\(name) state has \(bytes.count) bytes, not \(KVMVMState.chipStateSize)")
        }
        let r = bytes.withUnsafeBufferPointer { ckvm_set_irqchip(fd, chip, $0.baseAddress) }
        guard r == 0 else { throw .ioctlFailed("KVM_SET_IRQCHIP(\(name))", errno: errno) }
    }
}
