import ArgumentParser
import Foundation
import GuestKit

/// `swiftdm lab xen-shell`: a root shell in dom0 of the Xen lab (GuestKit's ``XenLab``): real
/// Xen 4.17 under QEMU TCG, `xl` ready, this swiftdm at ``XenLabPaths/swiftdm``.
struct LabXenShellCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xen-shell",
        abstract: "Boot Xen 4.17 and a Debian dom0 under QEMU TCG and open dom0's shell (leave with poweroff -f).",
        discussion: """
            Xen's hypervisor, toolstack, SeaBIOS and qemu-system-xen come from Debian packages, fetched once into \
            the guest kit's cache. dom0 carries this swiftdm at \(XenLabPaths.swiftdm) (use it as an HVM guest's \
            device_model_override) and the files you pass in /root. HVM guests that run an operating system need \
            cpuid="host,rdtscp=0" under TCG. dom0 is ready in ~10–40 s.
            """)

    @Option(name: .customLong("kit"), help: ArgumentHelp("Guest kit directory (built if needed; its ABI picks dom0's kernel).", valueName: "DIR"))
    var kitDirectory: String = BuiltGuestKit.defaultDirectory

    @Option(name: .customLong("file"), help: ArgumentHelp("A host file copied into dom0 as /root/NAME; repeatable.", valueName: "path"))
    var files: [String] = []

    func run() throws {
        let builder = GuestKitBuilder(outputDirectory: kitDirectory) { HostOutput.standardError("guest-kit: \($0)\n") }
        let kit = try builder.build()
        let log: @Sendable (String) -> Void = { HostOutput.standardError("xen-lab: \($0)\n") }
        let parts = try XenLabParts.build(in: XenLabParts.defaultDirectory(kit: kit), cacheDirectory: kit.directory + "/debs", kit: kit, log: log)
        let work = try ScratchDirectory.create(prefix: "/tmp/swiftdm-xen-lab-")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let lab = try XenLab(parts: parts, swiftdm: SwiftdmRunGuest.currentExecutable, workDirectory: work, log: log)
        let status = try lab.shell(files: files.map { XenLabScenario.File(hostPath: $0, name: URL(fileURLWithPath: $0).lastPathComponent) })
        if status != 0 { throw ExitCode(status) }
    }
}
