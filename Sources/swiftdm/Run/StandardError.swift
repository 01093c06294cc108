#if canImport(Glibc)
import Glibc
#endif

/// Writes `line` and a newline to stderr in one `write(2)` (unbuffered, safe from any thread).
func printToStandardError(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress! + done, $0.count - done) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { return }
        done += n
    }
}
