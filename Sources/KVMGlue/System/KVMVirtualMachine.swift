import CKVM
import DeviceModel
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A KVM virtual machine: the VM file descriptor and what hangs off it.
///
/// Created by ``KVMSystem/createVM()``. A typical x86 setup:
/// ```swift
/// let vm = try kvm.createVM()
/// try vm.setupX86Platform()                    // TSS, identity map, irqchip, PIT
/// let ram = try vm.mapRAM(GuestRAMLayout(size: 512 << 20))
/// let vcpu = try vm.createVCPU(id: 0)
/// ```
public final class KVMVirtualMachine: Sendable {
    /// Where `KVM_SET_IDENTITY_MAP_ADDR` puts its page (one page) and `KVM_SET_TSS_ADDR` its three
    /// pages: `[0xFEFFC000, 0xFF000000)`, as QEMU does, below any firmware of up to 16 MiB and
    /// above the LAPIC. The machine's e820 map must mark this range reserved.
    public static let identityMapAddress: UInt64 = 0xFEFF_C000
    public static let tssAddress: UInt64 = 0xFEFF_D000
    /// The range the two above occupy; report it as reserved in e820.
    public static let reservedRange = AddressRange(base: 0xFEFF_C000, length: 0x4000)!

    public let system: KVMSystem
    /// The VM file descriptor; valid for the lifetime of this object.
    public let fd: Int32

    private let nextSlot = Mutex<UInt32>(0)
    private let irqchipCreated = Atomic<Bool>(false)

    init(system: KVMSystem, fd: Int32) {
        self.system = system
        self.fd = fd
    }

    deinit { close(fd) }

    /// Whether ``createIRQChip()`` succeeded: then HLT, the LAPIC, IOAPIC and PIC are in the kernel.
    public var hasIRQChip: Bool { irqchipCreated.load(ordering: .acquiring) }

    /// `KVM_SET_TSS_ADDR`: three pages Intel VMX needs for real-mode emulation.
    public func setTSSAddress(_ address: UInt64 = KVMVirtualMachine.tssAddress) throws(KVMError) {
        guard ckvm_set_tss_addr(fd, address) == 0 else { throw .ioctlFailed("KVM_SET_TSS_ADDR(0x\(String(address, radix: 16)))", errno: errno) }
    }

    /// `KVM_SET_IDENTITY_MAP_ADDR`: one page for VMX's real-mode EPT identity map.
    public func setIdentityMapAddress(_ address: UInt64 = KVMVirtualMachine.identityMapAddress) throws(KVMError) {
        guard ckvm_set_identity_map_addr(fd, address) == 0 else {
            throw .ioctlFailed("KVM_SET_IDENTITY_MAP_ADDR(0x\(String(address, radix: 16)))", errno: errno)
        }
    }

    /// `KVM_CREATE_IRQCHIP`: in-kernel PIC pair, IOAPIC (24 pins) and a LAPIC per vCPU.
    /// Must precede vCPU creation.
    public func createIRQChip() throws(KVMError) {
        guard ckvm_create_irqchip(fd) == 0 else { throw .ioctlFailed("KVM_CREATE_IRQCHIP", errno: errno) }
        irqchipCreated.store(true, ordering: .releasing)
    }

    /// `KVM_CREATE_PIT2`: in-kernel i8254 on ports 0x40–0x43 wired to GSI 0, with a dummy
    /// speaker port (0x61) so firmware's speaker/PIT-gate probing does not exit to us.
    public func createPIT2() throws(KVMError) {
        guard ckvm_create_pit2(fd, ckvm_pit_speaker_dummy_flag()) == 0 else { throw .ioctlFailed("KVM_CREATE_PIT2", errno: errno) }
    }

    /// The standard x86 platform: TSS and identity-map pages, irqchip, PIT (in that order, as
    /// the kernel requires them before vCPUs exist).
    public func setupX86Platform() throws(KVMError) {
        try setIdentityMapAddress()
        try setTSSAddress()
        try createIRQChip()
        try createPIT2()
    }

    /// Reserves the next memory slot number.
    func allocateSlot() throws(KVMError) -> UInt32 {
        let limit = UInt32(clamping: max(system.check(.memorySlots), 32))
        return try nextSlot.withLock { (n: inout UInt32) throws(KVMError) -> UInt32 in
            guard n < limit else { throw .invalidMemoryLayout("all \(limit) KVM memory slots are in use") }
            defer { n += 1 }
            return n
        }
    }

    /// `KVM_SET_USER_MEMORY_REGION`: maps `length` bytes of host memory at `host` to `guestBase`.
    /// `readOnly` needs `KVM_CAP_READONLY_MEM`; guest writes to such a slot exit as MMIO.
    public func setMemorySlot(_ slot: UInt32, guestBase: UInt64, length: UInt64, host: UnsafeMutableRawPointer, readOnly: Bool = false) throws(KVMError) {
        let flags = readOnly ? ckvm_mem_readonly_flag() : 0
        guard ckvm_set_user_memory_region(fd, slot, flags, guestBase, length, host) == 0 else {
            throw .ioctlFailed(
                "KVM_SET_USER_MEMORY_REGION(slot \(slot), 0x\(String(guestBase, radix: 16))+0x\(String(length, radix: 16)))",
                errno: errno)
        }
    }

    /// `KVM_CREATE_VCPU` for APIC ID `id`, with its `kvm_run` page mapped.
    public func createVCPU(id: Int) throws(KVMError) -> KVMVCPU {
        guard id >= 0, id < system.maxVCPUs else { throw .tooManyVCPUs(requested: id + 1, maximum: system.maxVCPUs) }
        let vcpufd = ckvm_create_vcpu(fd, UInt32(id))
        guard vcpufd >= 0 else { throw .ioctlFailed("KVM_CREATE_VCPU(\(id))", errno: errno) }
        return try KVMVCPU(vm: self, id: id, fd: vcpufd, mmapSize: system.vcpuMmapSize)
    }
}
