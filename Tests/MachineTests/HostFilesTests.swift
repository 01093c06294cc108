import Dispatch
import Foundation
import Machine
import Synchronization
import Testing

/// `HostFiles.problem` checks what `--disk`, `--kernel`, `--initrd` and `--firmware` name
/// without blocking: a FIFO would block `open()` until a writer appears.
@Suite struct HostFilesTests {
    @Test func fifoIsRefusedWithoutBlocking() throws {
        let fifo = FileManager.default.temporaryDirectory.appendingPathComponent("swiftdm-hf-\(getpid())").path
        unlink(fifo)
        #expect(mkfifo(fifo, 0o600) == 0)
        defer { unlink(fifo) }
        for writable in [false, true] {
            let done = DispatchSemaphore(value: 0)
            let result = Mutex<String?>(nil)
            Thread.detachNewThread {
                let p = HostFiles.problem(fifo, writable: writable)
                result.withLock { $0 = p }
                done.signal()
            }
            if done.wait(timeout: .now() + 2) == .timedOut {
                Issue.record("HostFiles.problem blocked on a FIFO (writable: \(writable))")
                // Unblock the open: a reader end for a writer, a writer end for a reader.
                let other = open(fifo, (writable ? O_RDONLY : O_WRONLY) | O_NONBLOCK)
                if other >= 0 { close(other) }
                _ = done.wait(timeout: .now() + 5)
            }
            let problem = try #require(result.withLock { $0 })
            #expect(problem.contains("FIFO"), "\(problem)")
        }
    }

    @Test func regularFileAndDirectory() throws {
        #expect(HostFiles.problem("/", writable: false)?.contains("directory") == true)
        #expect(HostFiles.problem("/etc/hostname", writable: false) == nil || access("/etc/hostname", R_OK) != 0)
    }
}
