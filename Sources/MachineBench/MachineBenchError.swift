/// Why a machine scenario of `swiftdm bench` could not measure a run. Each case names the
/// command or value at fault: the sides are other programs, reported, never trapped on.
public enum MachineBenchError: Error, Equatable, CustomStringConvertible {
    /// A system call failed.
    case system(call: String, errno: Int32)
    /// The program could not be started.
    case spawnFailed(command: String, errno: Int32)
    /// The run ended (or timed out) before printing this line; the output it printed is kept.
    case markerMissing(marker: String, command: String, output: String)
    /// The C KVM loop did not compile.
    case compileFailed(compiler: String, output: String)

    public var description: String {
        switch self {
        case .system(let call, let errno): "\(call) failed: errno \(errno)"
        case .spawnFailed(let command, let errno): "could not start \(command): errno \(errno)"
        case .markerMissing(let marker, let command, let output):
            "no \"\(marker)\" from \(command); it printed: \(output.suffix(400))"
        case .compileFailed(let compiler, let output): "\(compiler) failed: \(output.suffix(400))"
        }
    }
}
