import Dispatch
import Logging
import Synchronization
@testable import VhostUser

/// Why each connection ended, in order, with a semaphore per end.
final class SessionEndLog: Sendable {
    private let ends = Mutex<[VhostUserError?]>([])
    private let ended = DispatchSemaphore(value: 0)

    func record(_ error: VhostUserError?) {
        ends.withLock { $0.append(error) }
        ended.signal()
    }

    /// Waits (bounded) for the next end: `.some(nil)` = clean disconnect, `nil` = timed out.
    /// Up to 60 s: ending a session drains the device, and the suite runs beside lab boots
    /// on a loaded 2-core machine.
    func next() -> VhostUserError?? {
        guard ended.wait(timeout: .now() + 60) == .success else { return nil }
        return ends.withLock { $0.removeFirst() }
    }
}

/// A backend serving an ``EchoDevice``, recording why each connection ended.
final class BackendHarness: Sendable {
    let device: EchoDevice
    let backend: VhostUserBackend
    let ends = SessionEndLog()

    init(queues: Int = 1, tracksInflight: Bool? = nil) throws {
        device = try EchoDevice(queues: queues)
        var logger = Logger(label: "test.vhost-user")
        logger.logLevel = .critical
        let ends = self.ends
        backend = try VhostUserBackend(device: device, logger: logger, tracksInflightRequests: tracksInflight) { ends.record($0) }
    }

    /// A connected fake frontend being served.
    func connect() -> FakeFrontend {
        let f = FakeFrontend()
        backend.serve(connectedSocket: f.backendFD)
        return f
    }

    func nextEnd() -> VhostUserError?? { ends.next() }

    deinit { backend.shutdown() }
}
