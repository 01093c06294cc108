import CKVM
import DeviceModel
import Testing
import X86Machine

@testable import KVMGlue

/// The records of KVM processor state without KVM: their layout, and every way a truncated,
/// foreign or hostile record is refused with the record, field and value named.
struct ProcessorStateRecordTests {
    static let limits = KVMStateLimits(xsaveSize: 4096, hasXCRS: true, hasDebugRegisters: true, saveableMSRs: [0x10, 0x6E0, 0xC000_0082, 0x4B56_4D01])

    static func vcpu(_ id: Int) -> KVMVCPUState {
        var regs = kvm_regs()
        regs.rip = 0xFF0F0 + UInt64(id)
        regs.rflags = 0x2
        return KVMVCPUState(
            id: id, cpuid: [CPUIDEntry(function: 0, eax: 0xD, ebx: 1, ecx: 2, edx: 3), CPUIDEntry(function: 1, eax: 0x800F12, ebx: 0, ecx: 0, edx: 0)],
            regs: RawStruct.bytes(of: regs), sregs: [UInt8](repeating: 0, count: 312), fpu: .xsave([UInt8](repeating: 0, count: 4096)),
            xcrs: [UInt8](repeating: 0, count: 392),
            msrs: [.init(index: 0x6E0, value: 5), .init(index: 0x10, value: 1 << 33), .init(index: 0xC000_0082, value: 0xFFFF_FFFF_8100_0000)],
            lapic: [UInt8](repeating: 0, count: 1024), events: [UInt8](repeating: 0, count: 64), mpState: id == 0 ? 0 : 1,
            debugRegisters: [UInt8](repeating: 0, count: 128))
    }

    static func vm(vcpus: Int) -> KVMVMState {
        var ioapic = [UInt8](repeating: 0, count: 512)
        withUnsafeBytes(of: KVMVMState.ioapicBase.littleEndian) { ioapic.replaceSubrange(0..<8, with: $0) }
        return KVMVMState(
            vcpuCount: vcpus, picMaster: [UInt8](repeating: 0, count: 512), picSlave: [UInt8](repeating: 0, count: 512), ioapic: ioapic,
            pit: [UInt8](repeating: 0, count: 112), clockNanoseconds: 123_456_789)
    }

    static let saved = KVMSavedState(vm: vm(vcpus: 2), vcpus: [vcpu(0), vcpu(1)])

    /// `records` with the record `id` changed.
    static func changing(_ id: String, _ change: (inout DeviceStateRecord) -> Void) -> [DeviceStateRecord] {
        saved.records.map { r in
            guard r.id == id else { return r }
            var r = r
            change(&r)
            return r
        }
    }

    static func parse(_ records: [DeviceStateRecord], vcpus: Int = 2) throws(DeviceStateError) -> KVMSavedState {
        try KVMSavedState(records: records, vcpuCount: vcpus, limits: limits)
    }

    @Test func structSizesAreTheKernels() {
        #expect(MemoryLayout<kvm_regs>.size == 144 && MemoryLayout<kvm_sregs>.size == 312)
        #expect(MemoryLayout<kvm_fpu>.size == 416 && MemoryLayout<kvm_xsave>.size == 4096 && MemoryLayout<kvm_xcrs>.size == 392)
        #expect(MemoryLayout<kvm_lapic_state>.size == 1024 && MemoryLayout<kvm_vcpu_events>.size == 64)
        #expect(MemoryLayout<kvm_debugregs>.size == 128 && MemoryLayout<kvm_pit_state2>.size == 112)
        #expect(KVMVMState.chipStateSize == 512)
    }

    @Test func recordsRoundTripThroughAnArchive() throws {
        let records = Self.saved.records
        #expect(records.map(\.id) == ["kvm/vm", "kvm/vcpu0", "kvm/vcpu1"])
        #expect(records.map(\.kind) == ["kvm-vm", "kvm-vcpu", "kvm-vcpu"])
        #expect(try records[1].unsigned("rip") == 0xFF0F0, "rip is readable for diagnostics")
        let decoded = try DeviceStateArchive(decoding: DeviceStateArchive(records: records).encoded()).records
        #expect(try Self.parse(decoded) == Self.saved)
        // Other devices' records in the same archive are left alone.
        let withDevices = decoded + [DeviceStateRecord(id: "isa/com1", kind: "uart16550", version: 1)]
        #expect(try Self.parse(withDevices) == Self.saved)
    }

    @Test func legacyFPUStateIsTakenWhereXSAVEIsMissing() throws {
        var state = Self.vcpu(0)
        state.fpu = .legacy([UInt8](repeating: 0, count: 416))
        let noXSAVE = KVMStateLimits(xsaveSize: nil, hasXCRS: true, hasDebugRegisters: true, saveableMSRs: Self.limits.saveableMSRs)
        #expect(try KVMVCPUState(record: state.record, limits: noXSAVE) == state)
        #expect(throws: DeviceStateError.invalidValue(
            id: "kvm/vcpu0", field: "xsave", value: "an XSAVE area", expected: "the legacy fpu (this host's KVM lacks KVM_CAP_XSAVE)")
        ) { try KVMVCPUState(record: Self.vcpu(0).record, limits: noXSAVE) }
    }

    @Test func theDeadlineMSRIsRestoredAfterTheTSC() {
        let order = KVMVCPU.restoreOrder(Self.vcpu(0).msrs).map(\.index)
        #expect(order == [0x10, 0xC000_0082, 0x6E0])
    }

    @Test func truncatedOrOversizedStructsAreRefused() {
        for (field, size) in [("regs", 144), ("sregs", 312), ("xsave", 4096), ("xcrs", 392), ("lapic", 1024), ("events", 64), ("debugregs", 128)] {
            #expect(throws: DeviceStateError.invalidValue(id: "kvm/vcpu1", field: field, value: "\(size - 1) bytes", expected: "\(size) bytes")) {
                try Self.parse(Self.changing("kvm/vcpu1") { $0.set(field, bytes: [UInt8](repeating: 0, count: size - 1)) })
            }
            #expect(throws: DeviceStateError.invalidValue(id: "kvm/vcpu1", field: field, value: "\(size + 8) bytes", expected: "\(size) bytes")) {
                try Self.parse(Self.changing("kvm/vcpu1") { $0.set(field, bytes: [UInt8](repeating: 0, count: size + 8)) })
            }
        }
        for (field, size) in [("pic-master", 512), ("pic-slave", 512), ("ioapic", 512), ("pit", 112)] {
            #expect(throws: DeviceStateError.invalidValue(id: "kvm/vm", field: field, value: "0 bytes", expected: "\(size) bytes")) {
                try Self.parse(Self.changing("kvm/vm") { $0.set(field, bytes: []) })
            }
        }
    }

    @Test func impossibleValuesAreRefused() {
        #expect(throws: DeviceStateError.invalidValue(id: "kvm/vcpu0", field: "mp-state", value: "5", expected: "at most 4")) {
            try Self.parse(Self.changing("kvm/vcpu0") { $0.set("mp-state", UInt64(5)) })
        }
        #expect(throws: DeviceStateError.invalidValue(
            id: "kvm/vcpu0", field: "msr-indices", value: "0x1b", expected: "an MSR this host's KVM saves (KVM_GET_MSR_INDEX_LIST)")
        ) {
            try Self.parse(Self.changing("kvm/vcpu0") { $0.set("msr-indices", array: [UInt32(0x10), 0x1B, 0x6E0]) })
        }
        #expect(throws: DeviceStateError.invalidValue(id: "kvm/vcpu0", field: "msr-indices", value: "0x10 twice", expected: "each MSR once")) {
            try Self.parse(Self.changing("kvm/vcpu0") { $0.set("msr-indices", array: [UInt32(0x10), 0x10, 0x6E0]) })
        }
        #expect(throws: DeviceStateError.invalidValue(id: "kvm/vcpu0", field: "msr-values", value: "2 elements", expected: "3 elements")) {
            try Self.parse(Self.changing("kvm/vcpu0") { $0.set("msr-values", array: [UInt64(1), 2]) })
        }
        #expect(throws: DeviceStateError.invalidValue(id: "kvm/vcpu0", field: "msr-indices", value: "element 4294967296", expected: "elements at most 4294967295")) {
            try Self.parse(Self.changing("kvm/vcpu0") { $0.set("msr-indices", array: [UInt64(1) << 32, 0x10, 0x6E0]) })
        }
        #expect(throws: DeviceStateError.invalidValue(id: "kvm/vcpu0", field: "cpuid", value: "8 words", expected: "1…256 entries of 7 words")) {
            try Self.parse(Self.changing("kvm/vcpu0") { $0.set("cpuid", array: [UInt32](repeating: 0, count: 8)) })
        }
        #expect(throws: DeviceStateError.invalidValue(id: "kvm/vcpu0", field: "cpuid", value: "1799 words", expected: "1…256 entries of 7 words")) {
            try Self.parse(Self.changing("kvm/vcpu0") { $0.set("cpuid", array: [UInt32](repeating: 0, count: 7 * 257)) })
        }
        #expect(throws: DeviceStateError.invalidValue(id: "kvm/vcpu0", field: "xcrs", value: "nr_xcrs 17", expected: "at most 16")) {
            try Self.parse(Self.changing("kvm/vcpu0") { $0.set("xcrs", bytes: [17] + [UInt8](repeating: 0, count: 391)) })
        }
        #expect(throws: DeviceStateError.invalidValue(id: "kvm/vcpu0", field: "fpu", value: "present with xsave", expected: "one of xsave and fpu")) {
            try Self.parse(Self.changing("kvm/vcpu0") { $0.set("fpu", bytes: [UInt8](repeating: 0, count: 416)) })
        }
        #expect(throws: DeviceStateError.invalidValue(id: "kvm/vm", field: "ioapic", value: "base address 0xfed00000", expected: "0xfec00000")) {
            try Self.parse(Self.changing("kvm/vm") { r in
                var ioapic = [UInt8](repeating: 0, count: 512)
                ioapic[2] = 0xD0
                ioapic[3] = 0xFE
                r.set("ioapic", bytes: ioapic)
            })
        }
        #expect(throws: DeviceStateError.invalidValue(id: "kvm/vcpu1", field: "id", value: "0", expected: "the vCPU named by the record id kvm/vcpu1")) {
            try Self.parse(Self.changing("kvm/vcpu1") { $0.set("id", UInt64(0)) })
        }
    }

    @Test func theRecordSetMustMatchTheMachine() {
        #expect(throws: DeviceStateError.invalidValue(id: "kvm/vm", field: "vcpu-count", value: "2", expected: "3, the machine's vCPU count")) {
            try Self.parse(Self.saved.records, vcpus: 3)
        }
        #expect(throws: DeviceStateError.missingRecord(id: "kvm/vcpu1")) {
            try Self.parse(Self.saved.records.filter { $0.id != "kvm/vcpu1" })
        }
        #expect(throws: DeviceStateError.missingRecord(id: "kvm/vm")) {
            try Self.parse(Self.saved.records.filter { $0.id != "kvm/vm" })
        }
        #expect(throws: DeviceStateError.unexpectedRecords(ids: ["kvm/vcpu7"])) {
            var extra = Self.vcpu(7).record
            extra.id = "kvm/vcpu7"
            return try Self.parse(Self.saved.records + [extra])
        }
        #expect(throws: DeviceStateError.malformed(offset: 0, reason: "a second record for kvm/vcpu0")) {
            try Self.parse(Self.saved.records + [Self.vcpu(0).record])
        }
        #expect(throws: DeviceStateError.wrongKind(id: "kvm/vcpu0", expected: "kvm-vcpu", found: "kvm-vm")) {
            try Self.parse(Self.changing("kvm/vcpu0") { $0.kind = "kvm-vm" })
        }
        #expect(throws: DeviceStateError.unsupportedVersion(id: "kvm/vm", kind: "kvm-vm", version: 2, supported: 1...1)) {
            try Self.parse(Self.changing("kvm/vm") { $0.version = 2 })
        }
        #expect(throws: DeviceStateError.wrongType(id: "kvm/vcpu0", field: "lapic", expected: "bytes")) {
            try Self.parse(Self.changing("kvm/vcpu0") { $0.set("lapic", UInt64(0)) })
        }
        #expect(throws: DeviceStateError.missingField(id: "kvm/vcpu0", field: "xsave")) {
            try Self.parse(Self.saved.records.map { r in
                guard r.id == "kvm/vcpu0" else { return r }
                var stripped = DeviceStateRecord(id: r.id, kind: r.kind, version: r.version)
                for f in r.fields where f.name != "xsave" { stripped.set(f.name, f.value) }
                return stripped
            })
        }
    }

    /// Random damage to every field of valid records: each result is a value or a typed
    /// refusal, never a crash (a small deterministic fuzz run).
    @Test func randomDamageIsRefusedNotFatal() {
        var rng = SplitMix(seed: 0x5EED)
        let base = Self.saved.records
        var refused = 0
        for _ in 0..<2000 {
            var records = base
            let r = Int(rng.next() % UInt64(records.count))
            let field = records[r].fields[Int(rng.next() % UInt64(records[r].fields.count))].name
            let value: DeviceStateRecord.Value
            switch rng.next() % 5 {
            case 0: value = .unsigned(rng.next() >> (rng.next() % 64))
            case 1: value = .bool(rng.next() & 1 == 0)
            case 2: value = .bytes((0..<Int(rng.next() % 5000)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
            case 3: value = .string("x")
            default: value = .unsignedArray((0..<Int(rng.next() % 40)).map { _ in rng.next() >> (rng.next() % 64) })
            }
            records[r].set(field, value)
            do {
                _ = try Self.parse(records)
            } catch {
                refused += 1
                #expect(!"\(error)".isEmpty)
            }
        }
        #expect(refused > 1500)
    }
}

/// A small deterministic generator for the fuzz run.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
