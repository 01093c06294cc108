import Foundation

/// A test guest assembled by ``GuestKitBuilder``: Debian's cloud kernel with a busybox initrd
/// carrying the virtio modules, an optional second initrd with `fio` and `iperf3`, and Debian's
/// user-mode Linux kernel with its own initrd. Every file lives in ``directory``.
///
/// The graphics variant (``Variant/graphics``, from ``GuestKitBuilder/buildGraphics()``) is a kit
/// of its own in the `graphics` subdirectory: Debian's standard kernel of the same ABI, whose
/// initrd also loads virtio-gpu, virtio-input and evdev.
public struct BuiltGuestKit: Sendable {
    /// Which kernel the kit boots.
    public enum Variant: String, Sendable {
        /// Debian's cloud kernel: virtio block, net, console, rng; no display or input drivers.
        case standard
        /// Debian's standard kernel: also `virtio-gpu` (DRM, with fbdev emulation for the
        /// framebuffer console on `/dev/fb0`), `virtio_input` and `evdev`; no user-mode Linux or
        /// tools initrd.
        case graphics
    }

    /// The graphics variant's directory inside a kit directory.
    public static let graphicsSubdirectory = "graphics"

    /// Where the kit's files are.
    public let directory: String
    /// The cloud kernel's release, such as `6.1.0-28-cloud-amd64`.
    public let kernelRelease: String
    /// The user-mode Linux release; `nil` when Debian's user-mode-linux was unavailable.
    public let umlRelease: String?
    /// True when the kit has ``toolsInitrd``.
    public let hasTools: Bool
    /// The cloud kit or the graphics kit.
    public let variant: Variant

    /// Creates the description of a kit already in `directory`.
    public init(directory: String, kernelRelease: String, umlRelease: String?, hasTools: Bool, variant: Variant = .standard) {
        self.directory = directory
        self.kernelRelease = kernelRelease
        self.umlRelease = umlRelease
        self.hasTools = hasTools
        self.variant = variant
    }

    /// Debian's cloud kernel (`vmlinuz`); the standard kernel in the graphics variant.
    public var kernel: String { directory + "/vmlinuz" }
    /// Small initrd: busybox, virtio modules, `/init` (boot timing, most tests).
    public var initrd: String { directory + "/initrd.img" }
    /// ``initrd`` followed by a cpio with `fio`, `iperf3` and their libraries; `nil` when the
    /// host has neither tool installed.
    public var toolsInitrd: String? { hasTools ? directory + "/initrd-tools.img" : nil }
    /// The user-mode Linux kernel binary, when the kit has one.
    public var umlKernel: String? { umlRelease == nil ? nil : directory + "/linux.uml" }
    /// The user-mode Linux initrd (busybox and UML's virtio modules), when the kit has one.
    public var umlInitrd: String? { umlRelease == nil ? nil : directory + "/initrd-uml.img" }

    /// The location shared by `swiftdm demo`, `swiftdm guest-kit` and the tests:
    /// `$SWIFTDM_GUEST_KIT`, else `$XDG_CACHE_HOME/swiftdm/guest-kit` (`~/.cache` by default).
    public static var defaultDirectory: String {
        let env = ProcessInfo.processInfo.environment
        if let dir = env["SWIFTDM_GUEST_KIT"], !dir.isEmpty { return dir }
        let cache = env["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (NSHomeDirectory() + "/.cache")
        return cache + "/swiftdm/guest-kit"
    }
}
