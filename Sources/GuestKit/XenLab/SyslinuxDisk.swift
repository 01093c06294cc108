import Foundation

/// A BIOS-bootable raw disk image holding a Linux kernel and initrd, built without mounting
/// anything: a FAT file system over the whole image (`mkfs.fat`; no partition table, so
/// SeaBIOS boots its boot sector), syslinux installed into it (`syslinux --install`, Debian's
/// mtools-based installer) and the files copied in with `mcopy`.
public struct SyslinuxDisk: Sendable {
    /// The kernel to boot.
    public var kernel: String
    /// Its initrd.
    public var initrd: String
    /// The kernel command line (syslinux's `APPEND`, after `initrd=`).
    public var commandLine: String
    /// The image's size in MiB.
    public var sizeMiB = 64

    public init(kernel: String, initrd: String, commandLine: String) {
        self.kernel = kernel
        self.initrd = initrd
        self.commandLine = commandLine
    }

    /// `syslinux.cfg`: boot the one entry at once.
    var configuration: String {
        """
        DEFAULT linux
        PROMPT 0
        TIMEOUT 0
        LABEL linux
          KERNEL vmlinuz
          APPEND initrd=initrd.img \(commandLine)

        """
    }

    /// Writes the image to `path` (replacing it).
    ///
    /// - Throws: ``GuestKitError/toolMissing(tool:package:)`` for `mkfs.fat`, `syslinux` or
    ///   `mcopy`; ``XenLabError/commandLineTooLong(bytes:)``; ``GuestKitError/hostCommandFailed(command:status:output:)``.
    public func write(to path: String) throws {
        try HostCommand.require("mkfs.fat", package: "dosfstools")
        try HostCommand.require("syslinux", package: "syslinux syslinux-common")
        try HostCommand.require("mcopy", package: "mtools")
        let appended = "initrd=initrd.img " + commandLine
        guard appended.utf8.count < 2048 else { throw XenLabError.commandLineTooLong(bytes: appended.utf8.count) }
        try? FileManager.default.removeItem(atPath: path)
        try HostCommand.run(["mkfs.fat", "-C", "-n", "SWIFTDM", path, "\(sizeMiB * 1024)"])
        try HostCommand.run(["syslinux", "--install", path])
        let config = path + ".syslinux.cfg"
        try configuration.write(toFile: config, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: config) }
        for (file, name) in [(kernel, "vmlinuz"), (initrd, "initrd.img"), (config, "syslinux.cfg")] {
            try HostCommand.run(["mcopy", "-o", "-i", path, file, "::" + name])
        }
    }
}
