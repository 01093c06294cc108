/// What a PC boots: a Linux kernel (with initrd and command line) loaded directly, or BIOS
/// firmware (SeaBIOS) that finds its own boot device.
public enum BootSource: Hashable, Sendable {
    case kernel(path: String, initrd: String?, commandLine: String)
    case firmware(path: String)
}
