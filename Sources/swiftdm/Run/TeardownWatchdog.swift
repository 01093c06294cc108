import CDeviceModelShims
import Machine
#if canImport(Glibc)
import Glibc
#endif

/// Once the guest's run is over and its exit status known, tearing the machine down (device
/// threads, the VNC server, guest memory) must not keep `swiftdm run` from exiting with that
/// status: a teardown that takes longer than ``limit`` is reported, with what each thread is
/// doing, and the process exits with the status anyway.
///
/// The thread is created up front (a `--seccomp` filter forbids creating threads later and
/// opening files, so the thread list may then be unavailable) and waits on a pipe until
/// ``arm(exitStatus:)``.
final class TeardownWatchdog: Sendable {
    static let limit: Int = 30
    private let writeEnd: Int32

    init() {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else {
            writeEnd = -1
            return
        }
        writeEnd = fds[1]
        let readEnd = fds[0]
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { raw in
            let readEnd = Int32(truncatingIfNeeded: Int(bitPattern: raw))
            swiftdm_set_thread_name("teardown-watch")
            var status: Int32 = 0
            var got = 0
            while got < 4 {
                let n = withUnsafeMutableBytes(of: &status) { read(readEnd, $0.baseAddress! + got, 4 - got) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return nil }
                got += n
            }
            var left = timespec(tv_sec: TeardownWatchdog.limit, tv_nsec: 0)
            var rest = timespec()
            while nanosleep(&left, &rest) != 0 && errno == EINTR { left = rest }
            printToStandardError("swiftdm run: the guest's run ended, but shutting down took longer than \(TeardownWatchdog.limit) s; "
                                 + "exiting with its status \(status). Threads still running: \(TeardownWatchdog.threads())")
            _exit(status)
        }, UnsafeMutableRawPointer(bitPattern: Int(readEnd)))
        if rc == 0 { pthread_detach(tid) }
    }

    /// Starts the clock: the process exits with `exitStatus` within ``limit`` seconds.
    func arm(exitStatus: Int32) {
        guard writeEnd >= 0 else { return }
        var status = exitStatus
        _ = withUnsafeBytes(of: &status) { write(writeEnd, $0.baseAddress, 4) }
    }

    /// "name (state, waiting in wchan)" for each thread, from /proc/self/task.
    static func threads() -> String {
        guard let dir = opendir("/proc/self/task") else { return "(unavailable: errno \(errno))" }
        defer { closedir(dir) }
        var out: [String] = []
        while let entry = readdir(dir) {
            let tid = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard tid.first?.isNumber == true else { continue }
            let base = "/proc/self/task/\(tid)/"
            let name = firstLine(base + "comm") ?? "?"
            let state = firstLine(base + "stat").flatMap { stat in stat.split(separator: ")").last?.split(separator: " ").first.map(String.init) } ?? "?"
            let wchan = firstLine(base + "wchan") ?? "?"
            out.append("\(name)[\(tid)] \(state) \(wchan)")
        }
        return out.joined(separator: ", ")
    }

    private static func firstLine(_ path: String) -> String? {
        (try? HostFiles.firstLine(of: path, option: "teardown watchdog")).flatMap { $0.isEmpty ? nil : $0 }
    }
}
