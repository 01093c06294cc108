/// How `qemu-system-x86_64` runs the guest's instructions.
public enum QemuAccelerator: String, Sendable, CustomStringConvertible {
    /// The host's KVM (`-accel kvm -cpu host`).
    case kvm
    /// QEMU's binary translator (`-accel tcg,thread=multi -cpu max`); `-cpu max` includes AMD
    /// SVM with nested paging, so a guest can run its own hardware-style KVM.
    case tcg

    /// ``kvm`` where the host's KVM runs unmodified guests natively, ``tcg`` otherwise (including
    /// PVM, which would emulate every instruction; see ``HostVirtualization``).
    public static var preferred: QemuAccelerator {
        HostVirtualization.runsUnmodifiedGuestsNatively ? .kvm : .tcg
    }

    /// `-accel` and `-cpu` for this accelerator.
    var arguments: [String] {
        switch self {
        case .kvm: ["-accel", "kvm", "-cpu", "host"]
        case .tcg: ["-accel", "tcg,thread=multi", "-cpu", "max"]
        }
    }

    public var description: String { rawValue }
}
