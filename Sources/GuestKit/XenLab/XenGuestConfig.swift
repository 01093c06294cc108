/// An `xl` configuration for an HVM guest (the text of an `xl create` file; xl.cfg(5)).
///
/// libxl starts the device model named by ``deviceModel`` (QEMU-style arguments, a QMP
/// handshake) or Debian's `qemu-system-xen` when it is `nil`.
public struct XenGuestConfig: Sendable {
    /// The domain's name; also names its serial log and libxl's device-model log.
    public var name: String
    /// Guest RAM in MiB.
    public var memoryMiB = 256
    /// vCPUs.
    public var cpus = 1
    /// The device model program (`device_model_override`); qemu-xen when `nil`.
    public var deviceModel: String?
    /// Arguments libxl appends to the device model's command line (`device_model_args`).
    public var deviceModelArguments: [String] = []
    /// True for a guest that runs an operating system: hides RDTSCP (`cpuid="host,rdtscp=0"`).
    /// QEMU TCG's SVM reports an RDTSCP intercept as RDTSC and Xen then crashes the guest
    /// ("SVM Insn len emulation"); firmware-only guests never execute it.
    public var operatingSystem = true
    /// Direct kernel boot (`kernel`, `ramdisk`, `cmdline`; handled by the device model's firmware
    /// loader, so qemu-xen only); `nil` boots from disk through SeaBIOS.
    public var directKernel: (kernel: String, ramdisk: String, commandLine: String)?
    /// Further `key=value` lines, verbatim.
    public var extraLines: [String] = []

    public init(name: String, deviceModel: String? = nil, deviceModelArguments: [String] = []) {
        self.name = name
        self.deviceModel = deviceModel
        self.deviceModelArguments = deviceModelArguments
    }

    /// Where dom0 finds the guest's first serial port (`serial="file:…"`).
    public var serialLog: String { "/tmp/\(name)-serial.log" }

    /// The configuration file's text.
    public var text: String {
        var lines = [
            "name=\(Self.quoted(name))",
            "type=\"hvm\"",
            "memory=\(memoryMiB)",
            "vcpus=\(cpus)",
            "device_model_version=\"qemu-xen\"",
        ]
        if let deviceModel { lines.append("device_model_override=\(Self.quoted(deviceModel))") }
        if !deviceModelArguments.isEmpty {
            lines.append("device_model_args=[" + deviceModelArguments.map(Self.quoted).joined(separator: ",") + "]")
        }
        lines += [
            "vga=\"none\"",
            "vnc=0",
            "sdl=0",
            "serial=\(Self.quoted("file:" + serialLog))",
            "boot=\"c\"",
            "on_poweroff=\"destroy\"",
            "on_reboot=\"destroy\"",
            "on_crash=\"destroy\"",
        ]
        if operatingSystem { lines.append("cpuid=\"host,rdtscp=0\"") }
        if let k = directKernel {
            lines += ["kernel=\(Self.quoted(k.kernel))", "ramdisk=\(Self.quoted(k.ramdisk))", "cmdline=\(Self.quoted(k.commandLine))"]
        }
        return (lines + extraLines).joined(separator: "\n") + "\n"
    }

    /// `value` as an xl string: double quotes, with `\` and `"` escaped.
    static func quoted(_ value: String) -> String {
        "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
