import Foundation

/// A guest-kit guest under Debian's user-mode Linux, whose `virtio_uml` transport attaches
/// vhost-user devices directly (`virtio_uml.device=SOCKET:VIRTIO_ID`).
struct UmlGuest {
    var kit: BuiltGuestKit
    /// (socket, virtio device ID): 2 block, 3 console.
    var devices: [(socket: String, virtioID: Int)] = []
    var command: String
    var memoryMiB = 256

    var arguments: [String]? {
        guard let kernel = kit.umlKernel, let initrd = kit.umlInitrd else { return nil }
        return [kernel, "mem=\(memoryMiB)M", "initrd=\(initrd)", "rdinit=/init", "con=null", "con0=fd:0,fd:1", "quiet"]
            + devices.map { "virtio_uml.device=\($0.socket):\($0.virtioID)" }
            + [GuestInit.commandArgument(command)]
    }

    func run(timeout: Duration = .seconds(120), echo: (@Sendable (String) -> Void)? = nil) throws -> GuestRun? {
        guard let arguments else { return nil }
        let started = ContinuousClock.now
        // UML backs its RAM with a file in TMPDIR; keep it on tmpfs-like /tmp.
        let p = try ConsoleProcess(arguments, environment: ["TMPDIR": NSTemporaryDirectory()], echo: echo)
        if !p.waitForExit(timeout: timeout) { p.kill() }
        let wall = ContinuousClock.now - started
        return GuestRun(console: p.output, wallSeconds: Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18)
    }
}
