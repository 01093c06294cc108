import CKVM

/// One CPUID leaf/subleaf and its register values (`struct kvm_cpuid_entry2`).
public struct CPUIDEntry: Sendable, Hashable {
    public var function: UInt32
    public var index: UInt32
    /// `KVM_CPUID_FLAG_*`: whether `index` is significant, and so on.
    public var flags: UInt32
    public var eax: UInt32
    public var ebx: UInt32
    public var ecx: UInt32
    public var edx: UInt32

    public init(function: UInt32, index: UInt32 = 0, flags: UInt32 = 0, eax: UInt32, ebx: UInt32, ecx: UInt32, edx: UInt32) {
        self.function = function
        self.index = index
        self.flags = flags
        self.eax = eax
        self.ebx = ebx
        self.ecx = ecx
        self.edx = edx
    }

    init(_ e: kvm_cpuid_entry2) {
        self.init(function: e.function, index: e.index, flags: e.flags, eax: e.eax, ebx: e.ebx, ecx: e.ecx, edx: e.edx)
    }

    var raw: kvm_cpuid_entry2 {
        var e = kvm_cpuid_entry2()
        e.function = function
        e.index = index
        e.flags = flags
        e.eax = eax
        e.ebx = ebx
        e.ecx = ecx
        e.edx = edx
        return e
    }
}

/// The CPUID a vCPU reports: KVM's supported leaves, adjusted per vCPU.
public struct CPUIDTable: Sendable, Hashable {
    public var entries: [CPUIDEntry]

    public init(entries: [CPUIDEntry]) { self.entries = entries }

    /// The first entry for `function`/`index`.
    public func entry(function: UInt32, index: UInt32 = 0) -> CPUIDEntry? {
        entries.first { $0.function == function && ($0.index == index || $0.flags & UInt32(KVM_CPUID_FLAG_SIGNIFCANT_INDEX) == 0) }
    }

    /// The hypervisor vendor signature at leaf 0x40000000 (e.g. "KVMKVMKVM"), if present.
    public var hypervisorSignature: String? {
        guard let e = entry(function: 0x4000_0000) else { return nil }
        var bytes: [UInt8] = []
        for r in [e.ebx, e.ecx, e.edx] { for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: r >> (8 * UInt32(i)))) } }
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// The table with the TSC-deadline mode of the local APIC timer announced (leaf 1
    /// ECX[24]). `KVM_GET_SUPPORTED_CPUID` always clears that bit, since it depends on the
    /// in-kernel local APIC; `KVM_CAP_TSC_DEADLINE_TIMER` says whether it can be set. Without
    /// it Linux calibrates the APIC timer against the PM timer at boot and reprograms the
    /// timer through its initial-count register.
    public func withTSCDeadlineTimer() -> CPUIDTable {
        var t = self
        for i in t.entries.indices where t.entries[i].function == 1 { t.entries[i].ecx |= 1 << 24 }
        return t
    }

    /// The table for vCPU `id` of `count`: the initial APIC ID in leaf 1 EBX[31:24] and in the
    /// x2APIC leaves 0xB/0x1F EDX, the logical-processor count in leaf 1 EBX[23:16] (with HTT set
    /// when there is more than one), and the hypervisor-present bit (leaf 1 ECX[31]).
    public func forVCPU(_ id: Int, of count: Int) -> CPUIDTable {
        var t = self
        for i in t.entries.indices {
            switch t.entries[i].function {
            case 1:
                let logical = UInt32(min(max(count, 1), 255))
                t.entries[i].ebx = (t.entries[i].ebx & 0x0000_FFFF) | (UInt32(id & 0xFF) << 24) | (logical << 16)
                if count > 1 { t.entries[i].edx |= 1 << 28 }
                t.entries[i].ecx |= 1 << 31
            case 0xB, 0x1F:
                t.entries[i].edx = UInt32(id)
            default:
                break
            }
        }
        return t
    }
}
