import Dispatch
import Foundation
import Synchronization
import Testing

@testable import X86Machine

/// Files a user (or a script fed by someone else) names as kernel, initrd or firmware: a FIFO
/// must not block `open()` for ever, and a huge sparse file must be refused by its size before
/// a byte of it is read.
@Suite struct HostileFileTests {
    /// Runs `body` on another thread; fails (and unblocks a FIFO open by opening its write end)
    /// when it takes longer than two seconds.
    private func finishes<T: Sendable>(unblocking fifo: String, _ body: @escaping @Sendable () -> T,
                                       sourceLocation: SourceLocation = #_sourceLocation) -> T? {
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<T?>(nil)
        Thread.detachNewThread {
            let r = body()
            result.withLock { $0 = r }
            done.signal()
        }
        if done.wait(timeout: .now() + 2) == .timedOut {
            Issue.record("blocked on the FIFO", sourceLocation: sourceLocation)
            let w = open(fifo, O_WRONLY | O_NONBLOCK)
            if w >= 0 { close(w) }
            _ = done.wait(timeout: .now() + 5)
        }
        return result.withLock { $0 }
    }

    private func temporaryPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("swiftdm-\(getpid())-\(name)").path
    }

    @Test func fifoAsKernelInitrdOrFirmwareIsRefusedWithoutBlocking() throws {
        let fifo = temporaryPath("fifo")
        unlink(fifo)
        #expect(mkfifo(fifo, 0o600) == 0)
        defer { unlink(fifo) }

        let kernel = finishes(unblocking: fifo) { () -> LinuxBootError? in
            do throws(LinuxBootError) { _ = try LinuxKernelImage(path: fifo); return nil } catch { return error }
        }
        #expect(kernel == .notRegularFile(path: fifo, kind: "FIFO"))
        let initrd = finishes(unblocking: fifo) { () -> LinuxBootError? in
            do throws(LinuxBootError) { _ = try LinuxLoader.readInitrd(path: fifo); return nil } catch { return error }
        }
        #expect(initrd == .notRegularFile(path: fifo, kind: "FIFO"))
        let firmware = finishes(unblocking: fifo) { () -> FirmwareImageError? in
            do throws(FirmwareImageError) { _ = try FirmwareImage(path: fifo); return nil } catch { return error }
        }
        #expect(firmware == .notRegularFile(path: fifo))
        #expect("\(LinuxBootError.notRegularFile(path: fifo, kind: "FIFO"))".contains("FIFO"))
    }

    @Test func sparse64GiBKernelOrInitrdIsRefusedBeforeReading() throws {
        let path = temporaryPath("sparse")
        let fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0o600)
        #expect(fd >= 0)
        defer { unlink(path) }
        #expect(ftruncate(fd, off_t(64) << 30) == 0)
        close(fd)
        #expect(throws: LinuxBootError.fileTooLarge(path: path, size: 64 << 30, maximum: LinuxKernelImage.maximumFileSize)) {
            try LinuxKernelImage(path: path)
        }
        #expect(throws: LinuxBootError.fileTooLarge(path: path, size: 64 << 30, maximum: LinuxLoader.maximumInitrdSize)) {
            try LinuxLoader.readInitrd(path: path)
        }
        #expect("\(LinuxBootError.fileTooLarge(path: path, size: 64 << 30, maximum: 1 << 30))".contains("68719476736"))
    }
}
