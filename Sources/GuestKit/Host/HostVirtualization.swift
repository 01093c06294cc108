import Foundation

/// What this host's KVM offers guests.
public enum HostVirtualization {
    /// True where `/dev/kvm` runs an unmodified kernel at full speed: it is usable and is not
    /// PVM (`/sys/module/kvm_pvm`), under which every guest instruction would be emulated
    /// (Debian's kernel does not get through its decompressor there).
    public static var runsUnmodifiedGuestsNatively: Bool {
        let fm = FileManager.default
        return fm.isReadableFile(atPath: "/dev/kvm") && fm.isWritableFile(atPath: "/dev/kvm") && !kvmIsPVM
    }

    /// True where `/dev/kvm` is PVM (`/sys/module/kvm_pvm`): guest instructions emulated, exits dear.
    public static var kvmIsPVM: Bool { FileManager.default.fileExists(atPath: "/sys/module/kvm_pvm") }
}
