import X86Machine
#if canImport(Glibc)
import Glibc
#endif

/// Why a vCPU stopped running the guest, with the registers at that moment (when KVM could
/// still report them). Every exit that is not I/O ends up here; none crashes the process.
public enum VCPUError: Error, Equatable, CustomStringConvertible {
    /// `KVM_EXIT_SHUTDOWN`: the guest triple-faulted (or otherwise shut the CPU down).
    case shutdown(vcpu: Int, registers: X86CPUState?)
    /// `KVM_EXIT_HLT`: the guest halted with no in-kernel LAPIC to wake it.
    case halted(vcpu: Int, registers: X86CPUState?)
    /// `KVM_EXIT_FAIL_ENTRY`: the hardware refused the guest state (VMX/SVM reason code).
    case entryFailed(vcpu: Int, hardwareReason: UInt64, registers: X86CPUState?)
    /// `KVM_EXIT_INTERNAL_ERROR`: KVM could not continue (suberror 1 = emulation failure), with
    /// its diagnostic words.
    case internalError(vcpu: Int, suberror: UInt32, data: [UInt64], registers: X86CPUState?)
    /// `KVM_EXIT_SYSTEM_EVENT` of type crash (or an unknown type).
    case systemEvent(vcpu: Int, type: UInt32, registers: X86CPUState?)
    /// An exit reason swiftdm does not handle (`KVM_EXIT_*` number).
    case unhandledExit(vcpu: Int, reason: UInt32, registers: X86CPUState?)
    /// `KVM_RUN` itself failed.
    case runFailed(vcpu: Int, errno: Int32)
    /// The I/O sink could not carry out an access and the run cannot continue.
    case ioFailed(vcpu: Int, request: String, reason: String)

    /// The vCPU the error happened on.
    public var vcpu: Int {
        switch self {
        case .shutdown(let v, _), .halted(let v, _), .entryFailed(let v, _, _), .internalError(let v, _, _, _),
            .systemEvent(let v, _, _), .unhandledExit(let v, _, _), .runFailed(let v, _), .ioFailed(let v, _, _):
            v
        }
    }

    /// The registers captured at the exit, if any.
    public var registers: X86CPUState? {
        switch self {
        case .shutdown(_, let r), .halted(_, let r), .entryFailed(_, _, let r), .internalError(_, _, _, let r),
            .systemEvent(_, _, let r), .unhandledExit(_, _, let r):
            r
        case .runFailed, .ioFailed:
            nil
        }
    }

    public var description: String {
        let where_ = registers.map { " at \($0)" } ?? ""
        switch self {
        case .shutdown(let v, let r):
            // AMD SVM's shutdown intercept resets the vCPU before KVM returns (the VMCB is
            // undefined after a shutdown), so its registers are the reset state, not the fault's.
            let resetState = r.map { $0.rip == 0xFFF0 } == true
                ? " (KVM on AMD resets a vCPU before it reports a shutdown: these are reset-state registers, not the faulting ones)" : ""
            return "vCPU \(v): guest shut down the CPU (triple fault)\(where_)\(resetState)"
        case .halted(let v, _):
            return "vCPU \(v): guest halted with no interrupt controller to wake it\(where_)"
        case .entryFailed(let v, let reason, _):
            return "vCPU \(v): VM entry failed, hardware reason 0x\(String(reason, radix: 16))\(where_)"
        case .internalError(let v, let sub, let data, _):
            let words = data.map { "0x" + String($0, radix: 16) }.joined(separator: " ")
            let what = sub == 1 ? "instruction emulation failed" : "KVM internal error \(sub)"
            return "vCPU \(v): \(what) [\(words)]\(where_)"
        case .systemEvent(let v, let type, _):
            return "vCPU \(v): guest system event \(type == 3 ? "crash" : "type \(type)")\(where_)"
        case .unhandledExit(let v, let reason, _):
            return "vCPU \(v): unhandled KVM exit reason \(reason)\(where_)"
        case .runFailed(let v, let e):
            return "vCPU \(v): KVM_RUN failed: \(String(cString: strerror(e))) (errno \(e))"
        case .ioFailed(let v, let request, let reason):
            return "vCPU \(v): \(request) could not be completed: \(reason)"
        }
    }
}
