#if canImport(Glibc)
import Glibc
#endif

/// One run of a side of a machine scenario: the program started with `posix_spawnp`, its
/// standard output read line by line with the time each line arrived (from just before the
/// spawn), and its peak resident set: `VmHWM` of `/proc/PID/status`, read at every line and at
/// least every 50 ms until it exits. Not `wait4`'s `ru_maxrss`: Linux carries the peak of the
/// address space a process had before `execve` into it, and a spawned child's is the bench's own.
struct BenchChildProcess {
    /// What one run printed and used.
    struct Run {
        /// Each output line (stdout and stderr) with the seconds from spawn to its arrival.
        var lines: [(seconds: Double, text: String)]
        /// Peak RSS (the last `VmHWM` read) in KiB; 0 if the process was gone before one was read.
        var peakRSSKiB: Int
        /// Whether the bench had to kill it (it did not end by itself within the grace time).
        var killed: Bool

        /// Seconds from spawn to the first line containing `marker`.
        func seconds(toLineContaining marker: String) -> Double? {
            lines.first { $0.text.contains(marker) }?.seconds
        }

        /// All output, for error messages.
        var output: String { lines.map(\.text).joined(separator: "\n") }
    }

    /// Runs `arguments` (the first is the program, looked up in `PATH`) until it exits, or until
    /// `lastMarker` appeared and `grace` seconds more passed, or `timeout` seconds in all; a run
    /// still going then is killed (SIGKILL). `posix_spawnp(3)`, `poll(2)`, `wait4(2)`.
    static func run(_ arguments: [String], lastMarker: String, grace: Double = 5, timeout: Double) throws(MachineBenchError) -> Run {
        let command = arguments.joined(separator: " ")
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw .system(call: "pipe", errno: errno) }
        // Close-on-exec both ends: the child gets the write end only as its stdout and stderr
        // (dup2 clears the flag), so the read end sees EOF when the child and its children are gone.
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        let start = monotonicSeconds()
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, arguments[0], &actions, nil, argv, environ)
        close(fds[1])
        guard rc == 0 else {
            close(fds[0])
            throw .spawnFailed(command: command, errno: rc)
        }
        defer { close(fds[0]) }

        var lines: [(seconds: Double, text: String)] = []
        var pending: [UInt8] = []
        var markerAt: Double?
        var killed = false
        var peakKiB = 0
        var open = true
        var buffer = [UInt8](repeating: 0, count: 4096)
        while open {
            let now = monotonicSeconds() - start
            let deadline = markerAt.map { min($0 + grace, timeout) } ?? timeout
            if now >= deadline {
                kill(pid, SIGKILL)
                killed = true
                break
            }
            peakKiB = max(peakKiB, Self.highWaterMarkKiB(of: pid) ?? 0)
            var p = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, Int32(max(1, min(0.05, deadline - now) * 1000)))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }
            let n = buffer.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { open = false; break }
            let arrived = monotonicSeconds() - start
            pending += buffer[0..<n]
            // Serial output ends lines with LF or CR LF.
            while let nl = pending.firstIndex(of: 10) {
                let text = String(decoding: pending[..<nl], as: UTF8.self).trimmingCharacters(in: "\r")
                pending.removeSubrange(...nl)
                lines.append((arrived, text))
                if markerAt == nil, text.contains(lastMarker) { markerAt = arrived }
            }
        }
        if !pending.isEmpty { lines.append((monotonicSeconds() - start, String(decoding: pending, as: UTF8.self))) }
        var status: Int32 = 0
        var usage = rusage()
        // The pipe closed (the program is exiting) or it was killed above; one that closed its
        // output and kept running is killed at the same deadline.
        while true {
            // Until reaped, /proc/PID/status of an exited process has no VmHWM: nothing is lost.
            peakKiB = max(peakKiB, Self.highWaterMarkKiB(of: pid) ?? 0)
            let r = wait4(pid, &status, WNOHANG, &usage)
            if r == pid { break }
            if r < 0 && errno == EINTR { continue }
            if r < 0 { throw .system(call: "wait4", errno: errno) }
            let deadline = markerAt.map { min($0 + grace, timeout) } ?? timeout
            if !killed && monotonicSeconds() - start >= deadline {
                kill(pid, SIGKILL)
                killed = true
            }
            usleep(2_000)
        }
        return Run(lines: lines, peakRSSKiB: peakKiB, killed: killed)
    }

    /// `VmHWM` of `/proc/PID/status` in KiB, `nil` when unreadable (the process is gone).
    static func highWaterMarkKiB(of pid: pid_t) -> Int? {
        let fd = open("/proc/\(pid)/status", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[0..<n], as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return nil }
        return Int(line.dropFirst(6).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
    }

    /// CLOCK_MONOTONIC in seconds. `clock_gettime(2)`.
    static func monotonicSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }
}

extension String {
    /// The string without `c` at either end.
    fileprivate func trimmingCharacters(in c: Character) -> String {
        var s = Substring(self)
        while s.last == c { s = s.dropLast() }
        while s.first == c { s = s.dropFirst() }
        return String(s)
    }
}
