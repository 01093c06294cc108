import Foundation

/// A guest-kit guest under Debian's user-mode Linux, whose `virtio_uml` transport attaches
/// vhost-user devices directly (`virtio_uml.device=SOCKET:VIRTIO_ID`), any device type —
/// unlike QEMU 7.2, which has no vhost-user console frontend.
public struct UmlGuest: GuestRunner {
    /// A vhost-user device `virtio_uml` attaches.
    public enum Device: Sendable {
        /// virtio-blk (virtio device ID 2) on the backend at `socket`.
        case blk(socket: String)
        /// virtio-console (virtio device ID 3), `/dev/hvc0`, on the backend at `socket`.
        case console(socket: String)

        /// The virtio device ID (virtio 1.2 §5) and the socket.
        var attachment: String {
            switch self {
            case .blk(let socket): "virtio_uml.device=\(socket):2"
            case .console(let socket): "virtio_uml.device=\(socket):3"
            }
        }
    }

    /// The kit whose user-mode Linux kernel and initrd boot.
    public var kit: BuiltGuestKit
    /// The devices, in the order they are attached.
    public var devices: [Device]
    /// Shell script for `/init` to run.
    public var command: String
    /// Guest RAM in MiB (`mem=`).
    public var memoryMiB: Int
    /// Two minutes: UML boots to init in under two seconds.
    public var defaultTimeout: Duration { .seconds(120) }
    /// UML backs its RAM with a file in `TMPDIR`; keep it on the host's temporary directory.
    public var environment: [String: String] { ["TMPDIR": NSTemporaryDirectory()] }

    /// A guest booting `kit`'s user-mode Linux with `devices`, running `command`.
    public init(kit: BuiltGuestKit, devices: [Device] = [], command: String, memoryMiB: Int = 256) {
        self.kit = kit
        self.devices = devices
        self.command = command
        self.memoryMiB = memoryMiB
    }

    /// The `linux.uml` command line.
    ///
    /// - Throws: ``GuestKitError/userModeLinuxUnavailable(kitDirectory:)`` when the kit has no UML.
    public func commandLine() throws -> [String] {
        guard let kernel = kit.umlKernel, let initrd = kit.umlInitrd else {
            throw GuestKitError.userModeLinuxUnavailable(kitDirectory: kit.directory)
        }
        return [kernel, "mem=\(memoryMiB)M", "initrd=\(initrd)", "rdinit=/init", "con=null", "con0=fd:0,fd:1", "quiet"]
            + devices.map(\.attachment)
            + [GuestInit.commandArgument(command)]
    }
}
