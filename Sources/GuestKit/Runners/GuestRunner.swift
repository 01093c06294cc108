/// Boots a guest-kit guest as one host process and reads what it prints.
///
/// A runner is a value describing one boot: which kit, which devices, which command `/init`
/// runs (``GuestInit``). Each kind of host — QEMU (``QemuGuest``), user-mode Linux
/// (``UmlGuest``), swiftdm's own KVM machine (``SwiftdmRunGuest``) — says how it is launched
/// through ``commandLine()``; starting, waiting, killing at a deadline and parsing the console
/// into a ``GuestRun`` are shared.
///
/// A lab that needs files prepared first (say, an L1 initramfs that carries `swiftdm` into a
/// nested-KVM guest under QEMU TCG) prepares them before it makes its runner, so
/// ``commandLine()`` stays a function of the runner's properties, and fits here beside the
/// others.
public protocol GuestRunner: Sendable {
    /// The host command line that boots the guest; the first element is looked up in `PATH`.
    ///
    /// - Throws: ``GuestKitError`` when the kit lacks what this runner needs.
    func commandLine() throws -> [String]

    /// Environment variables the host process gets in addition to this process's.
    var environment: [String: String] { get }

    /// How long ``run(timeout:echo:)`` waits by default before it kills the guest.
    var defaultTimeout: Duration { get }
}

extension GuestRunner {
    /// No additions: the host process inherits this process's environment.
    public var environment: [String: String] { [:] }

    /// Starts the guest; the caller waits on, signals or kills the returned process.
    ///
    /// - Parameter echo: Receives the console as it arrives (for verbose runs).
    public func start(echo: (@Sendable (String) -> Void)? = nil) throws -> ConsoleProcess {
        try ConsoleProcess(try commandLine(), environment: environment.isEmpty ? nil : environment, echo: echo)
    }

    /// Boots the guest, lets its command run to the guest's power-off, and returns what it
    /// printed. A guest still running at `timeout` (``defaultTimeout`` when `nil`) is killed;
    /// its ``GuestRun/hostStatus`` is then `nil`.
    public func run(timeout: Duration? = nil, echo: (@Sendable (String) -> Void)? = nil) throws -> GuestRun {
        let started = ContinuousClock.now
        let process = try start(echo: echo)
        let finished = process.waitForExit(timeout: timeout ?? defaultTimeout)
        if !finished { process.kill() }
        let wall = ContinuousClock.now - started
        return GuestRun(console: process.output, wallSeconds: wall.seconds,
                        hostStatus: finished ? process.exitStatus : nil)
    }
}
