import DeviceModel
import Testing
@testable import Virtio

@Suite("Runtime: avail-ring polling")
struct AvailRingPollingTests {
    @Test("kicks a window of the limit would have caught grow the window; later ones shrink it; never beyond the limit")
    func adaptation() {
        var p = AvailRingPolling(limit: .microseconds(32))
        #expect(p.window == .zero)
        p.kicked(after: .microseconds(100))          // too late for any window: no polling
        #expect(p.window == .zero)
        p.kicked(after: .microseconds(10))
        #expect(p.window == .microseconds(4))
        for _ in 0..<5 { p.kicked(after: .microseconds(30)) }
        #expect(p.window == .microseconds(32))
        p.kicked(after: .microseconds(40))
        #expect(p.window == .microseconds(16))
        p.kicked(after: .microseconds(10))           // within the window's reach: no change
        #expect(p.window == .microseconds(16))
        p.kicked(after: .milliseconds(5)); p.kicked(after: .milliseconds(5))
        #expect(p.window == .microseconds(4))
        p.kicked(after: .milliseconds(5))
        #expect(p.window == .zero, "below the smallest window polling stops")
        var off = AvailRingPolling.off
        off.kicked(after: .zero)
        #expect(off.window == .zero)
        #expect(AvailRingPolling(limit: .microseconds(-5)).limit == .zero)
    }

    @Test("while the queue polls, a chain the driver posts without a kick is served; idle, the queue asks for kicks again")
    func servesWithoutKickThenSleeps() async throws {
        let guest = try TestGuest()
        let q = try guest.makeQueue(size: 16)
        let irq = RecordingInterrupts()
        // A limit beyond any gap a loaded machine makes: the window then grows until it outlasts
        // the gap between this test's requests (whatever scheduling makes of it), so the post
        // below, made straight after a completion, certainly falls within it.
        let service = try VirtqueueService(name: "rt-poll", polling: AvailRingPolling(limit: .seconds(3600)))
        let handler = ClosureHandler { queue in
            queue.forEachRequest { r throws(VirtioDeviceError) in try echo(r); return .proceed }
        }
        let features = ringFeatures | VirtioFeature.eventIndex
        service.start(try guest.activation(features: features, queues: [q], interrupts: irq), handlers: [0: handler])
        try q.setUsedEvent(0)
        // The driver kicks as Linux does with EVENT_IDX: only when avail_event asks for it.
        func post(_ byte: UInt8, index new: UInt16) throws -> (chain: PostedChain, kicked: Bool) {
            let chain = try q.post([.readable([byte]), .writable(1)])
            let wanted = new &- (try q.availEvent()) &- 1 < 1   // vring_need_event(avail_event, new, new - 1)
            if wanted { try q.notify() }
            return (chain, wanted)
        }
        // Requests 100 ms apart (more under load), each later than the window: every kick
        // doubles the window from 4 µs until it outlasts the gap (after about 15 kicks here),
        // after which polling takes the requests and the driver is not asked to kick.
        var kicks = 0
        for i in 1...30 {
            try await Task.sleep(for: .milliseconds(100))
            let (chain, kicked) = try post(UInt8(i), index: UInt16(i))
            if kicked { kicks += 1 }
            let used = try q.waitUsed(1)
            #expect(used.first?.id == UInt32(chain.head))
            #expect(try guest.bytes(at: chain.writable[0].address, count: 1) == [UInt8(i)])
            try q.setUsedEvent(UInt16(i))
        }
        print("avail-ring polling: \(kicks) of 30 requests 100 ms apart needed a kick")
        // Straight after a completion the queue is still polling: no kick is wanted or sent.
        let (quiet, kicked) = try post(99, index: 31)
        #expect(!kicked, "avail_event \((try? q.availEvent()) ?? 0): the queue asked for a kick instead of polling")
        let used = try q.waitUsed(1, timeout: .seconds(20))
        #expect(used.first?.id == UInt32(quiet.head))
        #expect(try guest.bytes(at: quiet.writable[0].address, count: 1) == [99])
        // Nothing more arrives: the window runs out and the queue publishes avail_event, asking
        // for the next kick.
        #expect(waitUntil(timeout: .seconds(120)) { (try? q.availEvent()) == 31 })
        service.shutdown()
    }
}
