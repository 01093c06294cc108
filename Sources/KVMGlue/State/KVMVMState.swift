import CKVM
import DeviceModel

/// The VM-wide state KVM holds for an x86 machine: the in-kernel interrupt controllers (both
/// 8259 PICs and the IOAPIC), the 8254 PIT and the kvmclock.
///
/// As a ``DeviceModel/DeviceStateRecord`` (id ``recordID``, kind ``kind``): each chip's 512-byte
/// `kvm_irqchip` state, `struct kvm_pit_state2`, the clock in nanoseconds and the vCPU count
/// the state belongs with.
public struct KVMVMState: Sendable, Equatable {
    /// The record kind, `kvm-vm`.
    public static let kind = "kvm-vm"
    /// The layout version of the record's fields.
    public static let version: UInt32 = 1
    /// The record id, `kvm/vm`.
    public static let recordID = "kvm/vm"
    /// The guest-physical base of the IOAPIC's registers, the only one swiftdm's machines use.
    public static let ioapicBase: UInt64 = 0xFEC0_0000
    /// The IOAPIC's pin count in KVM (`KVM_IOAPIC_NUM_PINS`).
    public static let ioapicPins = 24
    static let chipStateSize = Int(ckvm_irqchip_state_size())

    /// How many vCPUs the machine had.
    public var vcpuCount: Int
    /// `KVM_GET_IRQCHIP` of `KVM_IRQCHIP_PIC_MASTER`: `struct kvm_pic_state` in 512 bytes.
    public var picMaster: [UInt8]
    /// `KVM_IRQCHIP_PIC_SLAVE`.
    public var picSlave: [UInt8]
    /// `KVM_IRQCHIP_IOAPIC`: `struct kvm_ioapic_state` in 512 bytes.
    public var ioapic: [UInt8]
    /// `KVM_GET_PIT2`: `struct kvm_pit_state2`.
    public var pit: [UInt8]
    /// `KVM_GET_CLOCK`: the kvmclock in nanoseconds.
    public var clockNanoseconds: UInt64

    public init(vcpuCount: Int, picMaster: [UInt8], picSlave: [UInt8], ioapic: [UInt8], pit: [UInt8], clockNanoseconds: UInt64) {
        self.vcpuCount = vcpuCount
        self.picMaster = picMaster
        self.picSlave = picSlave
        self.ioapic = ioapic
        self.pit = pit
        self.clockNanoseconds = clockNanoseconds
    }

    /// The 64-bit redirection-table entry of IOAPIC pin `pin` (0 for pins beyond 23).
    public func ioapicRedirection(pin: Int) -> UInt64 {
        guard (0..<Self.ioapicPins).contains(pin) else { return 0 }
        return RawStruct.u64(ioapic, at: 24 + 8 * pin)
    }

    /// The interrupt mask register of the master (`slave: false`) or slave PIC.
    public func picIMR(slave: Bool = false) -> UInt8 { (slave ? picSlave : picMaster)[2] }

    /// The reload value of PIT channel `channel` (0 to 2).
    public func pitCount(channel: Int) -> UInt32 {
        guard (0..<3).contains(channel) else { return 0 }
        return RawStruct.u32(pit, at: channel * MemoryLayout<kvm_pit_channel_state>.size)
    }

    // MARK: Record

    /// The state as the record `kvm/vm`.
    public var record: DeviceStateRecord {
        var r = DeviceStateRecord(id: Self.recordID, kind: Self.kind, version: Self.version)
        r.set("vcpu-count", UInt64(vcpuCount))
        r.set("pic-master", bytes: picMaster)
        r.set("pic-slave", bytes: picSlave)
        r.set("ioapic", bytes: ioapic)
        r.set("pit", bytes: pit)
        r.set("clock-ns", clockNanoseconds)
        return r
    }

    /// Reads and validates `record`.
    public init(record r: DeviceStateRecord) throws(DeviceStateError) {
        try r.expect(kind: Self.kind, versions: Self.version...Self.version)
        guard r.id == Self.recordID else { throw .wrongKind(id: r.id, expected: "record \(Self.recordID)", found: r.id) }
        vcpuCount = Int(try r.unsigned("vcpu-count", max: UInt64(UInt32.max)))
        picMaster = try r.bytes("pic-master", count: Self.chipStateSize)
        picSlave = try r.bytes("pic-slave", count: Self.chipStateSize)
        ioapic = try r.bytes("ioapic", count: Self.chipStateSize)
        // KVM places the IOAPIC's MMIO window at the saved base: only the machine's one is taken.
        let base = RawStruct.u64(ioapic, at: 0)
        guard base == Self.ioapicBase else {
            throw r.invalid("ioapic", "base address 0x\(String(base, radix: 16))", expected: "0x\(String(Self.ioapicBase, radix: 16))")
        }
        pit = try r.bytes("pit", count: MemoryLayout<kvm_pit_state2>.size)
        clockNanoseconds = try r.unsigned("clock-ns")
    }
}
