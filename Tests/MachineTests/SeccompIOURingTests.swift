import CDeviceModelShims
import Foundation
import HostIO
import Machine
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Under `swiftdm run --seccomp`, virtio-blk's rings (set up with the device, before the
/// filter) keep working through io_uring_enter, while setting up a new ring is refused.
@Suite struct SeccompIOURingTests {
    final class Outcome: @unchecked Sendable {
        // SAFETY (@unchecked): written by the probe thread before it exits, read after join.
        var installError: String?
        var setupError: BlockBackendError?
        var readResult: Result<Void, BlockBackendError>?
        var bytes: [UInt8] = []
        let engine: UringBlockEngine
        init(engine: UringBlockEngine) { self.engine = engine }
    }

    @Test func ringsSetUpBeforeTheFilterStillWork() throws {
        if let problem = IOURingAvailability.problem {
            print("SKIP ***** io_uring under seccomp: io_uring unavailable on this host (\(problem)) *****")
            return
        }
        try run()
    }

    private func run() throws {
        let path = "\(NSTemporaryDirectory())/swiftdm-seccomp-uring-\(getpid()).img"
        guard FileManager.default.createFile(atPath: path, contents: Data((0..<4096).map { UInt8($0 % 251) })) else {
            throw CocoaError(.fileWriteUnknown)
        }
        defer { unlink(path) }
        let engine = try UringBlockEngine(backend: try FileBlockBackend(path: path, readOnly: true), entries: 4)
        let outcome = Outcome(engine: engine)
        let box = Unmanaged.passRetained(outcome).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            let o = Unmanaged<Outcome>.fromOpaque(raw!).takeRetainedValue()
            do throws(MachineError) { try SyscallFilter.runningMachine.install(allThreads: false) } catch {
                o.installError = "\(error)"
                return nil
            }
            do throws(BlockBackendError) { _ = try IOURing(entries: 2) } catch { o.setupError = error }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 512, alignment: 4096)
            defer { buffer.deallocate() }
            o.engine.read(into: [buffer], at: 512) { o.readResult = $0 }
            o.engine.submit()
            for _ in 0..<100 where o.readResult == nil {
                _ = o.engine.ring.completions.wait(timeoutMs: 100)
                o.engine.reap()
            }
            o.bytes = Array(buffer)
            return nil
        }, box)
        #expect(rc == 0)
        pthread_join(thread, nil)
        #expect(outcome.installError == nil, "\(outcome.installError ?? "")")
        #expect(outcome.setupError == .ioUringUnavailable(operation: "io_uring_setup", errno: EPERM))
        guard case .success? = outcome.readResult else {
            Issue.record("read on the ring made before the filter: \(String(describing: outcome.readResult))")
            return
        }
        #expect(outcome.bytes == (512..<1024).map { UInt8($0 % 251) })
    }
}
