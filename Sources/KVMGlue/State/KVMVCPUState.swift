import CKVM
import DeviceModel
import X86Machine

/// One vCPU's state as KVM holds it: the raw kernel structs of each `KVM_GET_*` ioctl, plus
/// its CPUID and MSRs — what a fresh vCPU needs to continue where this one stopped.
///
/// As a ``DeviceModel/DeviceStateRecord`` (id `kvm/vcpu<N>`, kind ``kind``) each struct is a
/// bytes field of its exact size; `rip` and `rflags` are repeated as numbers for people reading
/// a snapshot and are ignored on restore. ``init(record:limits:)`` refuses any record this host
/// could not take: wrong lengths, an MP state outside x86's, MSRs KVM does not save, an XSAVE
/// area of another size.
public struct KVMVCPUState: Sendable, Equatable {
    /// The record kind, `kvm-vcpu`.
    public static let kind = "kvm-vcpu"
    /// The layout version of the record's fields.
    public static let version: UInt32 = 1
    /// At most this many CPUID entries (the kernel's `KVM_MAX_CPUID_ENTRIES`).
    public static let maxCPUIDEntries = 256

    /// The FPU/SSE/AVX state: the XSAVE area when KVM has `KVM_CAP_XSAVE`, else `kvm_fpu`.
    public enum FPUState: Sendable, Equatable {
        /// `KVM_GET_XSAVE`/`KVM_GET_XSAVE2`: the kernel's XSAVE area (4096 bytes or more).
        case xsave([UInt8])
        /// `KVM_GET_FPU`: `struct kvm_fpu`.
        case legacy([UInt8])
    }

    /// One MSR and its value.
    public struct MSR: Sendable, Hashable {
        public var index: UInt32
        public var value: UInt64
        public init(index: UInt32, value: UInt64) {
            self.index = index
            self.value = value
        }
    }

    /// The vCPU (and initial APIC) id.
    public var id: Int
    /// `KVM_GET_CPUID2`: what the guest sees, restored first so that every later value is
    /// checked against the same features.
    public var cpuid: [CPUIDEntry]
    /// `struct kvm_regs`.
    public var regs: [UInt8]
    /// `struct kvm_sregs` (control registers, segments, EFER, APIC base, pending interrupt).
    public var sregs: [UInt8]
    public var fpu: FPUState
    /// `struct kvm_xcrs`, when the host has `KVM_CAP_XCRS`.
    public var xcrs: [UInt8]?
    /// `KVM_GET_MSRS` for the host's saveable MSRs that the vCPU could read.
    public var msrs: [MSR]
    /// `struct kvm_lapic_state`: the 1 KiB local APIC register page.
    public var lapic: [UInt8]
    /// `struct kvm_vcpu_events`: pending exceptions, interrupts, NMI, SIPI vector, SMM.
    public var events: [UInt8]
    /// `KVM_MP_STATE_*`: 0 runnable, 1 uninitialized, 2 INIT received, 3 halted, 4 SIPI received.
    public var mpState: UInt32
    /// `struct kvm_debugregs`, when the host has `KVM_CAP_DEBUGREGS`.
    public var debugRegisters: [UInt8]?

    public init(
        id: Int, cpuid: [CPUIDEntry], regs: [UInt8], sregs: [UInt8], fpu: FPUState, xcrs: [UInt8]?, msrs: [MSR],
        lapic: [UInt8], events: [UInt8], mpState: UInt32, debugRegisters: [UInt8]?
    ) {
        self.id = id
        self.cpuid = cpuid
        self.regs = regs
        self.sregs = sregs
        self.fpu = fpu
        self.xcrs = xcrs
        self.msrs = msrs
        self.lapic = lapic
        self.events = events
        self.mpState = mpState
        self.debugRegisters = debugRegisters
    }

    /// The record id of vCPU `id`.
    public static func recordID(_ id: Int) -> String { "kvm/vcpu\(id)" }

    /// The general and special registers, decoded (nil if the structs have the wrong size).
    public var registers: X86CPUState? {
        guard let r = RawStruct.load(kvm_regs.self, from: regs), let s = RawStruct.load(kvm_sregs.self, from: sregs) else { return nil }
        return X86CPUState(regs: r, sregs: s)
    }

    /// The 32-bit local APIC register at `offset` of the register page (0x320: LVT timer,
    /// 0x380: initial count, 0x390: current count, …).
    public func lapicRegister(at offset: Int) -> UInt32 { RawStruct.u32(lapic, at: offset) }

    /// The value saved for MSR `index`, if any.
    public func msr(_ index: UInt32) -> UInt64? { msrs.first { $0.index == index }?.value }

    // MARK: Record

    /// The state as a record `kvm/vcpu<id>`.
    public var record: DeviceStateRecord {
        var r = DeviceStateRecord(id: Self.recordID(id), kind: Self.kind, version: Self.version)
        r.set("id", UInt64(id))
        if let x = registers {
            r.set("rip", x.rip)
            r.set("rflags", x.rflags)
        }
        r.set("cpuid", array: cpuid.flatMap { [$0.function, $0.index, $0.flags, $0.eax, $0.ebx, $0.ecx, $0.edx] })
        r.set("regs", bytes: regs)
        r.set("sregs", bytes: sregs)
        switch fpu {
        case .xsave(let b): r.set("xsave", bytes: b)
        case .legacy(let b): r.set("fpu", bytes: b)
        }
        if let xcrs { r.set("xcrs", bytes: xcrs) }
        r.set("msr-indices", array: msrs.map(\.index))
        r.set("msr-values", array: msrs.map(\.value))
        r.set("lapic", bytes: lapic)
        r.set("events", bytes: events)
        r.set("mp-state", mpState)
        if let debugRegisters { r.set("debugregs", bytes: debugRegisters) }
        return r
    }

    /// Reads and validates `record` for a host with `limits`.
    public init(record r: DeviceStateRecord, limits: KVMStateLimits) throws(DeviceStateError) {
        try r.expect(kind: Self.kind, versions: Self.version...Self.version)
        let id = Int(try r.unsigned("id", max: UInt64(UInt32.max)))
        guard r.id == Self.recordID(id) else { throw r.invalid("id", id, expected: "the vCPU named by the record id \(r.id)") }
        self.id = id

        let words = try r.unsignedArray("cpuid", max: UInt64(UInt32.max)).map { UInt32($0) }
        guard words.count % 7 == 0, words.count / 7 <= Self.maxCPUIDEntries, !words.isEmpty else {
            throw r.invalid("cpuid", "\(words.count) words", expected: "1…\(Self.maxCPUIDEntries) entries of 7 words")
        }
        cpuid = stride(from: 0, to: words.count, by: 7).map { i in
            CPUIDEntry(function: words[i], index: words[i + 1], flags: words[i + 2], eax: words[i + 3], ebx: words[i + 4], ecx: words[i + 5], edx: words[i + 6])
        }

        regs = try r.bytes("regs", count: MemoryLayout<kvm_regs>.size)
        sregs = try r.bytes("sregs", count: MemoryLayout<kvm_sregs>.size)

        switch (r.value("xsave"), r.value("fpu"), limits.xsaveSize) {
        case (.some, .some, _):
            throw r.invalid("fpu", "present with xsave", expected: "one of xsave and fpu")
        case (.some, nil, let size?):
            fpu = .xsave(try r.bytes("xsave", count: size))
        case (.some, nil, nil):
            throw r.invalid("xsave", "an XSAVE area", expected: "the legacy fpu (this host's KVM lacks KVM_CAP_XSAVE)")
        case (nil, .some, _):
            fpu = .legacy(try r.bytes("fpu", count: MemoryLayout<kvm_fpu>.size))
        case (nil, nil, _):
            throw .missingField(id: r.id, field: limits.xsaveSize == nil ? "fpu" : "xsave")
        }

        if r.value("xcrs") != nil {
            guard limits.hasXCRS else { throw r.invalid("xcrs", "present", expected: "none (this host's KVM lacks KVM_CAP_XCRS)") }
            let xcrs = try r.bytes("xcrs", count: MemoryLayout<kvm_xcrs>.size)
            let count = RawStruct.u32(xcrs, at: 0)
            guard count <= ckvm_max_xcrs() else { throw r.invalid("xcrs", "nr_xcrs \(count)", expected: "at most \(ckvm_max_xcrs())") }
            self.xcrs = xcrs
        } else {
            xcrs = nil
        }

        let indices = try r.unsignedArray("msr-indices", max: UInt64(UInt32.max)).map { UInt32($0) }
        let values = try r.unsignedArray("msr-values", count: indices.count)
        let saveable = Set(limits.saveableMSRs)
        var seen: Set<UInt32> = []
        for index in indices {
            guard saveable.contains(index) else {
                throw r.invalid("msr-indices", "0x\(String(index, radix: 16))", expected: "an MSR this host's KVM saves (KVM_GET_MSR_INDEX_LIST)")
            }
            guard seen.insert(index).inserted else { throw r.invalid("msr-indices", "0x\(String(index, radix: 16)) twice", expected: "each MSR once") }
        }
        msrs = zip(indices, values).map { MSR(index: $0, value: $1) }

        lapic = try r.bytes("lapic", count: MemoryLayout<kvm_lapic_state>.size)
        events = try r.bytes("events", count: MemoryLayout<kvm_vcpu_events>.size)
        mpState = UInt32(try r.unsigned("mp-state", max: UInt64(KVM_MP_STATE_SIPI_RECEIVED)))

        if r.value("debugregs") != nil {
            guard limits.hasDebugRegisters else {
                throw r.invalid("debugregs", "present", expected: "none (this host's KVM lacks KVM_CAP_DEBUGREGS)")
            }
            debugRegisters = try r.bytes("debugregs", count: MemoryLayout<kvm_debugregs>.size)
        } else {
            debugRegisters = nil
        }
    }
}
