import DeviceModel
import Dispatch
import Testing
@testable import VhostUser
#if canImport(Glibc)
import Glibc
#endif

/// A frontend that trickles a message a byte at a time cannot keep the connection thread:
/// a whole message must arrive within the channel's deadline from its first byte.
@Suite("vhost-user slow peer")
struct SlowPeerTests {
    @Test func tricklingMessageIsCutOffAtTheDeadline() throws {
        let h = try BackendHarness()
        let f = h.connect()
        #expect(f.sync())
        // GET_CONFIG announcing a 4000-byte payload, sent one byte every 250 ms: each byte
        // arrives well within a per-read timeout, the whole would take 17 minutes.
        let message = VhostUserHeader(request: VhostUserRequest.getConfig.rawValue, flags: 1, size: 4000).encoded
            + [UInt8](repeating: 0, count: 4000)
        let start = ContinuousClock.now
        // The trickler sends on its own duplicate of the socket and closes it itself, and the
        // test waits for it: sending on `f.fd` once `f` closed it wrote zero bytes into
        // whichever socket of a test running in parallel got that descriptor number next
        // (seen as "message flags 0x100" in other vhost-user tests).
        let fd = dup(f.fd)
        let tricklerDone = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            defer {
                close(fd)
                tricklerDone.signal()
            }
            for b in message {
                var byte = b
                if send(fd, &byte, 1, Int32(MSG_NOSIGNAL)) != 1 { return }
                usleep(250_000)
                if ContinuousClock.now - start > .seconds(15) { return }
            }
        }
        defer { tricklerDone.wait() }
        let end = try #require(h.nextEnd())
        let elapsed = ContinuousClock.now - start
        #expect(end == .stalledMessage(request: VhostUserRequest.getConfig.rawValue) || end == .stalledMessage(request: nil),
                "\(String(describing: end))")
        #expect(elapsed < .seconds(VhostUserChannel.messageDeadlineSeconds + 2), "closed after \(elapsed)")
        #expect(h.connect().sync())
    }
}
