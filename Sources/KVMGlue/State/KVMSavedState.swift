import DeviceModel

/// A whole machine's KVM state: the VM's and every vCPU's, as the records
/// ``KVMAccelerator/saveProcessorState()`` returns and ``KVMAccelerator/createProcessors(count:restoring:)``
/// takes.
public struct KVMSavedState: Sendable, Equatable {
    /// The record-id prefix of KVM's records; other records in an archive belong to devices.
    public static let recordPrefix = "kvm/"

    public var vm: KVMVMState
    /// By vCPU id: `vcpus[i].id == i`.
    public var vcpus: [KVMVCPUState]

    public init(vm: KVMVMState, vcpus: [KVMVCPUState]) {
        self.vm = vm
        self.vcpus = vcpus
    }

    /// The VM's record, then one per vCPU.
    public var records: [DeviceStateRecord] { [vm.record] + vcpus.map(\.record) }

    /// Picks KVM's records (ids starting `kvm/`) out of `records` and validates them for a
    /// machine of `vcpuCount` vCPUs on a host with `limits`: the VM record and one record per
    /// vCPU must be there, agreeing on the count, and no other `kvm/` record.
    public init(records: [DeviceStateRecord], vcpuCount: Int, limits: KVMStateLimits) throws(DeviceStateError) {
        let ours = records.filter { $0.id.hasPrefix(Self.recordPrefix) }
        var byID: [String: DeviceStateRecord] = [:]
        for r in ours {
            guard byID.updateValue(r, forKey: r.id) == nil else { throw .malformed(offset: 0, reason: "a second record for \(r.id)") }
        }
        guard let vmRecord = byID.removeValue(forKey: KVMVMState.recordID) else { throw .missingRecord(id: KVMVMState.recordID) }
        let vm = try KVMVMState(record: vmRecord)
        guard vm.vcpuCount == vcpuCount else {
            throw vmRecord.invalid("vcpu-count", vm.vcpuCount, expected: "\(vcpuCount), the machine's vCPU count")
        }
        var vcpus: [KVMVCPUState] = []
        for id in 0..<vcpuCount {
            guard let r = byID.removeValue(forKey: KVMVCPUState.recordID(id)) else { throw .missingRecord(id: KVMVCPUState.recordID(id)) }
            vcpus.append(try KVMVCPUState(record: r, limits: limits))
        }
        guard byID.isEmpty else { throw .unexpectedRecords(ids: byID.keys.sorted()) }
        self.vm = vm
        self.vcpus = vcpus
    }
}
