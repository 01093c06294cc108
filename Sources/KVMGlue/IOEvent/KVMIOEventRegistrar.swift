import CKVM
import DeviceModel
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The core's ioeventfd protocol on `KVM_IOEVENTFD`: a guest write that matches is absorbed by
/// the kernel, which signals the notifier without a userspace exit.
///
/// PCI-configuration matches have no kernel equivalent (config accesses reach us as port I/O or
/// MMIO that the host bridge decodes), so they go to `fallback`, normally the dispatcher's
/// ``DeviceModel/SoftwareIOEvents``.
public final class KVMIOEventRegistrar: IOEventRegistrar {
    public let vm: KVMVirtualMachine
    public let fallback: SoftwareIOEvents?
    // Notifiers stay referenced while the kernel holds their fd.
    private let registered = Mutex<[IOEventMatch: EventNotifier]>([:])

    public init(vm: KVMVirtualMachine, fallback: SoftwareIOEvents? = nil) {
        self.vm = vm
        self.fallback = fallback
    }

    public func register(_ match: IOEventMatch, notifier: EventNotifier) throws(IOEventError) {
        guard [1, 2, 4, 8].contains(match.size) else { throw .invalidSize(match.size) }
        guard match.space != .pciConfig else {
            guard let fallback else { throw .backend(what: "KVM has no PCI-configuration ioeventfds (\(match))", errno: EINVAL) }
            return try fallback.register(match, notifier: notifier)
        }
        try registered.withLock { (table: inout [IOEventMatch: EventNotifier]) throws(IOEventError) in
            // KVM's own collision rule (ioeventfd_check_collision), checked here first so the error
            // names the registration in the way.
            if let existing = table.keys.first(where: { $0.collides(with: match) }) { throw .duplicate(existing) }
            guard assign(match, fd: notifier.fd, deassign: false) == 0 else {
                let e = errno
                if e == EEXIST { throw .duplicate(match) }
                throw .backend(what: "KVM_IOEVENTFD \(match)", errno: e)
            }
            table[match] = notifier
        }
    }

    public func unregister(_ match: IOEventMatch) throws(IOEventError) {
        guard match.space != .pciConfig else {
            guard let fallback else { throw .notRegistered(match) }
            return try fallback.unregister(match)
        }
        try registered.withLock { (table: inout [IOEventMatch: EventNotifier]) throws(IOEventError) in
            guard let notifier = table[match] else { throw .notRegistered(match) }
            guard assign(match, fd: notifier.fd, deassign: true) == 0 else {
                throw .backend(what: "KVM_IOEVENTFD deassign \(match)", errno: errno)
            }
            table[match] = nil
        }
    }

    /// The datamatch goes to the kernel unmasked: KVM compares it with the zero-extended written
    /// value, exactly as ``DeviceModel/IOEventMatch/matches(space:address:size:value:)`` does.
    private func assign(_ match: IOEventMatch, fd: Int32, deassign: Bool) -> Int32 {
        ckvm_ioeventfd(
            vm.fd, match.address, UInt32(match.size), fd, match.space == .port ? 1 : 0,
            match.datamatch == nil ? 0 : 1, match.datamatch ?? 0, deassign ? 1 : 0)
    }
}
