import HostIO
import VirtioDevices

/// Which engine a virtio-blk test can run on this host.
enum BlockEngineCheck {
    /// `engine`, or the thread pool with a loud SKIP line when io_uring was asked for and this
    /// host (seccomp, a container, an old kernel) cannot run it.
    static func usable(_ engine: BlockIOEngine?) -> BlockIOEngine? {
        guard engine == .ioUring, let problem = IOURingAvailability.problem else { return engine }
        print("SKIP ***** io_uring unavailable on this host (\(problem)): this io_uring test runs on the thread pool *****")
        return .threads
    }

    /// True when io_uring works here; otherwise prints a loud SKIP line for `test`.
    static func ioUringOrSkip(_ test: String) -> Bool {
        guard let problem = IOURingAvailability.problem else { return true }
        print("SKIP ***** \(test): io_uring unavailable on this host (\(problem)) *****")
        return false
    }
}
