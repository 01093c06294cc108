import Foundation

/// An initrd that carries the guest's command as a file, for scripts longer than the kernel
/// command line takes: x86 Linux keeps 2048 bytes of it (`COMMAND_LINE_SIZE`), and
/// ``GuestInit`` base64-encodes the command, so a script of about 1.4 KB is the most it can
/// carry; past that the guest kit's kernel stops early in boot, silently. The initrd is a
/// kit initrd with one more newc archive appended holding the script, and the guest's command
/// (``command``) only runs it.
public enum CommandInitrd {
    /// Where the script is in the guest.
    public static let scriptPath = "/opt/swiftdm/command.sh"
    /// The command to hand ``GuestInit`` (through a runner's `command`).
    public static let command = "sh \(scriptPath)"

    /// Writes `base` (a kit initrd) followed by an archive holding `script` to `path`.
    ///
    /// - Throws: ``GuestKitError/cannotWrite(path:)``, or Foundation's error reading `base`.
    public static func write(script: String, base: String, to path: String) throws {
        let archive = path + ".cpio"
        defer { try? FileManager.default.removeItem(atPath: archive) }
        let cpio = try CpioArchive(writingTo: archive)
        cpio.file(String(scriptPath.dropFirst()), contents: Data(script.utf8), mode: 0o755)
        try cpio.finish()

        _ = FileManager.default.createFile(atPath: path, contents: nil)
        guard let out = FileHandle(forWritingAtPath: path) else { throw GuestKitError.cannotWrite(path: path) }
        defer { try? out.close() }
        for part in [base, archive] {
            let data = try Data(contentsOf: URL(fileURLWithPath: part))
            out.write(data)
            // The kernel finds the next archive at a 4-byte boundary and skips zero padding
            // (init/initramfs.c); 512 also ends a gzip stream cleanly.
            out.write(Data(count: (512 - data.count % 512) % 512))
        }
    }
}
