import CKVM

/// A `KVM_CAP_*` extension, checked with `KVM_CHECK_EXTENSION`.
public struct KVMCapability: Sendable, Hashable, CustomStringConvertible {
    /// The `KVM_CAP_*` number.
    public let rawValue: Int32
    /// The constant's name without the `KVM_CAP_` prefix.
    public let name: String

    public init(rawValue: Int32, name: String) {
        self.rawValue = rawValue
        self.name = name
    }

    public var description: String { "KVM_CAP_\(name)" }

    public static let irqchip = KVMCapability(rawValue: KVM_CAP_IRQCHIP, name: "IRQCHIP")
    public static let userMemory = KVMCapability(rawValue: KVM_CAP_USER_MEMORY, name: "USER_MEMORY")
    public static let setTSSAddress = KVMCapability(rawValue: KVM_CAP_SET_TSS_ADDR, name: "SET_TSS_ADDR")
    public static let extendedCPUID = KVMCapability(rawValue: KVM_CAP_EXT_CPUID, name: "EXT_CPUID")
    public static let recommendedVCPUs = KVMCapability(rawValue: KVM_CAP_NR_VCPUS, name: "NR_VCPUS")
    public static let memorySlots = KVMCapability(rawValue: KVM_CAP_NR_MEMSLOTS, name: "NR_MEMSLOTS")
    public static let mpState = KVMCapability(rawValue: KVM_CAP_MP_STATE, name: "MP_STATE")
    public static let irqRouting = KVMCapability(rawValue: KVM_CAP_IRQ_ROUTING, name: "IRQ_ROUTING")
    public static let irqfd = KVMCapability(rawValue: KVM_CAP_IRQFD, name: "IRQFD")
    public static let pit2 = KVMCapability(rawValue: KVM_CAP_PIT2, name: "PIT2")
    public static let ioeventfd = KVMCapability(rawValue: KVM_CAP_IOEVENTFD, name: "IOEVENTFD")
    public static let setIdentityMapAddress = KVMCapability(rawValue: KVM_CAP_SET_IDENTITY_MAP_ADDR, name: "SET_IDENTITY_MAP_ADDR")
    public static let internalErrorData = KVMCapability(rawValue: KVM_CAP_INTERNAL_ERROR_DATA, name: "INTERNAL_ERROR_DATA")
    public static let maxVCPUs = KVMCapability(rawValue: KVM_CAP_MAX_VCPUS, name: "MAX_VCPUS")
    public static let signalMSI = KVMCapability(rawValue: KVM_CAP_SIGNAL_MSI, name: "SIGNAL_MSI")
    public static let readonlyMemory = KVMCapability(rawValue: KVM_CAP_READONLY_MEM, name: "READONLY_MEM")
    public static let immediateExit = KVMCapability(rawValue: KVM_CAP_IMMEDIATE_EXIT, name: "IMMEDIATE_EXIT")
    public static let tscDeadlineTimer = KVMCapability(rawValue: KVM_CAP_TSC_DEADLINE_TIMER, name: "TSC_DEADLINE_TIMER")

    // Saving and restoring vCPU and VM state.
    public static let xsave = KVMCapability(rawValue: KVM_CAP_XSAVE, name: "XSAVE")
    /// Positive: the size in bytes of the `KVM_GET_XSAVE2` buffer (at least 4096).
    public static let xsave2 = KVMCapability(rawValue: KVM_CAP_XSAVE2, name: "XSAVE2")
    public static let xcrs = KVMCapability(rawValue: KVM_CAP_XCRS, name: "XCRS")
    public static let debugRegisters = KVMCapability(rawValue: KVM_CAP_DEBUGREGS, name: "DEBUGREGS")
    public static let vcpuEvents = KVMCapability(rawValue: KVM_CAP_VCPU_EVENTS, name: "VCPU_EVENTS")
    public static let pitState2 = KVMCapability(rawValue: KVM_CAP_PIT_STATE2, name: "PIT_STATE2")
    public static let adjustClock = KVMCapability(rawValue: KVM_CAP_ADJUST_CLOCK, name: "ADJUST_CLOCK")

    /// What swiftdm's x86 machine needs from every KVM it runs on.
    public static let required: [KVMCapability] = [
        .irqchip, .userMemory, .setTSSAddress, .extendedCPUID, .irqRouting, .irqfd, .pit2,
        .ioeventfd, .setIdentityMapAddress, .signalMSI, .immediateExit,
    ]
}
