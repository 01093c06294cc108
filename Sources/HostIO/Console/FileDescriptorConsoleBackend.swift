import DeviceModel
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A console on a given pair of descriptors (a socketpair, pipes, an inherited terminal).
/// Once the stream ends the port stays disconnected.
public final class FileDescriptorConsoleBackend: ConsoleBackend {
    /// The descriptor the guest's input is read from.
    public let input: Int32
    /// The descriptor the guest's output is written to (possibly ``input``).
    public let output: Int32
    private let closeOnStop: Bool
    private let stopped = Atomic<Bool>(false)

    /// Uses `input` and `output` (made non-blocking); closes them on ``stop()`` when
    /// `closeOnStop`.
    public init(input: Int32, output: Int32, closeOnStop: Bool = false) {
        self.input = input
        self.output = output
        self.closeOnStop = closeOnStop
    }

    public func start(on loop: EventLoop, connected: @escaping @Sendable (ConsoleStream) -> Void) throws(ConsoleBackendError) {
        connected(ConsoleStream(input: input, output: output))
    }

    public func disconnected(_ stream: ConsoleStream) {}

    public func stop() {
        guard closeOnStop, !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for fd in Set([input, output]) { close(fd) }
    }
}
