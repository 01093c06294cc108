import DeviceModel
import Dispatch
import Foundation
import Synchronization
import Testing
import Virtio

/// A handler whose behaviour each test supplies.
final class ClosureHandler: VirtqueueHandler, @unchecked Sendable {
    // SAFETY (@unchecked): closures are set before activation and only called on the loop.
    let onServe: (ServedQueue) -> Void
    var onStop: (ServedQueue) -> Void = { _ in }
    init(_ onServe: @escaping (ServedQueue) -> Void) { self.onServe = onServe }
    func serve(_ queue: ServedQueue) { onServe(queue) }
    func stop(_ queue: ServedQueue) { onStop(queue) }
}

/// Copies each request's readable bytes into its writable buffers.
func echo(_ request: VirtqueueRequest) throws(VirtioDeviceError) {
    var reader = request.makeReader()
    var writer = request.makeWriter()
    let n = min(reader.remaining, writer.remaining)
    do {
        let bytes = try reader.read(count: n)
        try writer.write(bytes)
    } catch { throw .malformedRequest(queue: request.queueIndex, head: request.head, reason: "\(error)") }
    request.complete(bytesWritten: writer.bytesWritten)
}

let ringFeatures = VirtioFeature.version1 | VirtioFeature.indirectDescriptors

@Suite("Runtime: VirtqueueService")
struct RuntimeServiceTests {
    @Test("kicks are served on the I/O thread; used entries and one interrupt per batch")
    func echoThroughKick() throws {
        let guest = try TestGuest()
        let q = try guest.makeQueue(size: 16)
        let irq = RecordingInterrupts()
        let service = try VirtqueueService(name: "rt-echo")
        let onLoop = Atomic<Bool>(true)
        let handler = ClosureHandler { queue in
            if !queue.loop.isCurrent { onLoop.store(false, ordering: .relaxed) }
            queue.forEachRequest { r throws(VirtioDeviceError) in try echo(r); return .proceed }
        }
        service.start(try guest.activation(features: ringFeatures, queues: [q], interrupts: irq), handlers: [0: handler])
        let a = try q.post([.readable([1, 2, 3]), .writable(3)])
        let b = try q.post([.readable(Array(repeating: 7, count: 40))] + [.writable(16), .writable(24)], indirect: true)
        try q.notify()
        let used = try q.waitUsed(2)
        #expect(Set(used.map { UInt16($0.id) }) == [a.head, b.head])
        #expect(used.first { UInt16($0.id) == b.head }?.length == 40)
        #expect(try guest.bytes(at: a.writable[0].address, count: 3) == [1, 2, 3])
        #expect(try guest.bytes(at: b.writable[1].address, count: 24) == Array(repeating: 7, count: 24))
        #expect(waitUntil { irq.usedSignals(0) >= 1 })
        let allOnLoop = onLoop.load(ordering: .relaxed)
        #expect(allOnLoop)
        // Notifications are re-enabled once the ring is drained (no VIRTQ_USED_F_NO_NOTIFY left).
        #expect(try q.usedFlags() == 0)
        service.shutdown()
    }

    @Test("EVENT_IDX: interrupts only when used_event is crossed; avail_event follows the device")
    func eventIndexSuppression() throws {
        let guest = try TestGuest()
        let q = try guest.makeQueue(size: 16)
        let irq = RecordingInterrupts()
        let service = try VirtqueueService(name: "rt-evidx")
        let handler = ClosureHandler { queue in
            queue.forEachRequest { r throws(VirtioDeviceError) in try echo(r); return .proceed }
        }
        let features = ringFeatures | VirtioFeature.eventIndex
        service.start(try guest.activation(features: features, queues: [q], interrupts: irq), handlers: [0: handler])

        // First completion: the device has not signalled yet, so it signals.
        try q.setUsedEvent(0)
        try q.post([.readable([1]), .writable(1)])
        try q.notify()
        _ = try q.waitUsed(1)
        #expect(waitUntil { irq.usedSignals(0) == 1 })
        #expect(try q.availEvent() == 1)

        // The driver asks to be interrupted only once used.idx passes 3 (i.e. reaches 4).
        try q.setUsedEvent(3)
        for expectedIndex in 2...4 {
            try q.post([.readable([UInt8(expectedIndex)]), .writable(1)])
            try q.notify()
            _ = try q.waitUsed(1)
            service.loop.sync {}
            #expect(try q.usedIndex() == UInt16(expectedIndex))
            #expect(irq.usedSignals(0) == (expectedIndex < 4 ? 1 : 2), "used.idx \(expectedIndex)")
            #expect(try q.availEvent() == UInt16(expectedIndex))
        }
        service.shutdown()
    }

    @Test("without EVENT_IDX, VIRTQ_AVAIL_F_NO_INTERRUPT suppresses used-buffer interrupts")
    func noInterruptFlag() throws {
        let guest = try TestGuest()
        let q = try guest.makeQueue(size: 8)
        let irq = RecordingInterrupts()
        let service = try VirtqueueService(name: "rt-noint")
        let handler = ClosureHandler { queue in
            queue.forEachRequest { r throws(VirtioDeviceError) in try echo(r); return .proceed }
        }
        try q.setNoInterrupt(true)
        service.start(try guest.activation(features: ringFeatures, queues: [q], interrupts: irq), handlers: [0: handler])
        for i in 0..<3 {
            try q.post([.readable([UInt8(i)]), .writable(1)])
            try q.notify()
            _ = try q.waitUsed(1)
        }
        service.loop.sync {}
        #expect(irq.usedSignals(0) == 0)
        try q.setNoInterrupt(false)
        try q.post([.readable([9]), .writable(1)])
        try q.notify()
        _ = try q.waitUsed(1)
        #expect(waitUntil { irq.usedSignals(0) == 1 })
        service.shutdown()
    }

    @Test("chains posted before activation are served by the initial pass, without a kick")
    func initialPass() throws {
        let guest = try TestGuest()
        let q = try guest.makeQueue(size: 8)
        let irq = RecordingInterrupts()
        let service = try VirtqueueService(name: "rt-initial")
        try q.post([.readable([5]), .writable(1)])
        service.start(try guest.activation(features: ringFeatures, queues: [q], interrupts: irq),
                      handlers: [0: ClosureHandler { $0.forEachRequest { r throws(VirtioDeviceError) in try echo(r); return .proceed } }])
        #expect(try q.waitUsed(1).count == 1)
        service.shutdown()
    }

    @Test("offloaded requests complete from worker threads into the used ring")
    func offloadCompletion() throws {
        let guest = try TestGuest()
        let q = try guest.makeQueue(size: 64)
        let irq = RecordingInterrupts()
        let service = try VirtqueueService(name: "rt-offload", workerThreads: 3)
        let offThread = Atomic<Int>(0)
        let handler = ClosureHandler { queue in
            queue.forEachRequest { r throws(VirtioDeviceError) in
                r.offload { r in
                    if !queue.loop.isCurrent { offThread.add(1, ordering: .relaxed) }
                    try? echo(r)
                }
                return .proceed
            }
        }
        service.start(try guest.activation(features: ringFeatures, queues: [q], interrupts: irq), handlers: [0: handler])
        var posted: [PostedChain] = []
        for i in 0..<20 { posted.append(try q.post([.readable([UInt8(i), UInt8(i)]), .writable(2)])) }
        try q.notify()
        let used = try q.waitUsed(20)
        #expect(Set(used.map { UInt16($0.id) }) == Set(posted.map(\.head)))
        for (i, c) in posted.enumerated() { #expect(try guest.bytes(at: c.writable[0].address, count: 2) == [UInt8(i), UInt8(i)]) }
        let offloaded = offThread.load(ordering: .relaxed)
        #expect(offloaded == 20)
        #expect(irq.needsReset.isEmpty)
        service.shutdown()
    }

    @Test("reset waits for offloaded work in flight and drops its completion")
    func resetWaitsForInFlight() throws {
        let guest = try TestGuest()
        let q = try guest.makeQueue(size: 8)
        let irq = RecordingInterrupts()
        let service = try VirtqueueService(name: "rt-reset", workerThreads: 1)
        let started = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let events = Mutex<[String]>([])
        let handler = ClosureHandler { queue in
            queue.forEachRequest { r throws(VirtioDeviceError) in
                r.offload { r in
                    started.signal()
                    release.wait()
                    try? echo(r)
                    events.withLock { $0.append("work finished") }
                }
                return .proceed
            }
        }
        service.start(try guest.activation(features: ringFeatures, queues: [q], interrupts: irq), handlers: [0: handler])
        try q.post([.readable([1]), .writable(1)])
        try q.notify()
        #expect(started.wait(timeout: .now() + 20) == .success)
        let stopped = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            service.stop()
            events.withLock { $0.append("reset returned") }
            stopped.signal()
        }
        // Let the work finish only once reset has halted the queue (and is waiting for it).
        #expect(waitUntil { !service.isRunning })
        release.signal()
        #expect(stopped.wait(timeout: .now() + 20) == .success)
        #expect(events.withLock { $0 } == ["work finished", "reset returned"])
        // The completion came after reset began: nothing was pushed to the abandoned ring.
        #expect(try q.usedIndex() == 0)
        #expect(!service.isRunning)
        service.shutdown()
    }

    @Test("a request dropped without completion is returned with length 0; a second completion is ignored")
    func exactlyOnce() throws {
        let guest = try TestGuest()
        let q = try guest.makeQueue(size: 8)
        let irq = RecordingInterrupts()
        let service = try VirtqueueService(name: "rt-once")
        let handler = ClosureHandler { queue in
            queue.forEachRequest { r throws(VirtioDeviceError) in
                var reader = r.makeReader()
                let op = (try? reader.read(count: 1))?.first ?? 0
                switch op {
                case 0: break  // dropped on the floor
                default:
                    #expect(r.complete(bytesWritten: 1))
                    #expect(!r.complete(bytesWritten: 1))
                    r.fail("must be ignored: already completed")
                }
                return .proceed
            }
        }
        service.start(try guest.activation(features: ringFeatures, queues: [q], interrupts: irq), handlers: [0: handler])
        let dropped = try q.post([.readable([0]), .writable(4)])
        let twice = try q.post([.readable([1]), .writable(4)])
        try q.notify()
        let used = try q.waitUsed(2)
        service.loop.sync {}
        #expect(try q.usedIndex() == 2)
        #expect(used.first { UInt16($0.id) == dropped.head }?.length == 0)
        #expect(used.first { UInt16($0.id) == twice.head }?.length == 1)
        #expect(irq.needsReset.isEmpty)
        service.shutdown()
    }

    @Test("pause parks the queue until resume, kicks meanwhile are absorbed")
    func pauseResume() throws {
        let guest = try TestGuest()
        let q = try guest.makeQueue(size: 8)
        let irq = RecordingInterrupts()
        let service = try VirtqueueService(name: "rt-pause")
        let parked = Mutex<VirtqueueRequest?>(nil)
        let handler = ClosureHandler { queue in
            if let p = parked.withLock({ $0.take() }) { try? echo(p) }
            queue.forEachRequest { r throws(VirtioDeviceError) in
                parked.withLock { $0 = r }
                return .pause
            }
        }
        service.start(try guest.activation(features: ringFeatures, queues: [q], interrupts: irq), handlers: [0: handler])
        try q.post([.readable([1]), .writable(1)])
        try q.post([.readable([2]), .writable(1)])
        try q.notify()
        #expect(waitUntil { parked.withLock { $0 != nil } })
        try q.notify()
        service.loop.sync {}
        #expect(try q.usedIndex() == 0)
        let queue = service.loop.sync { service.queue(0)! }
        queue.resume()
        _ = try q.waitUsed(1)   // the first is completed, the second parked
        service.loop.sync {}
        #expect(try q.usedIndex() == 1)
        queue.resume()
        _ = try q.waitUsed(1)
        service.shutdown()
    }

    @Test("a ring violation sets NEEDS_RESET once and the queue stops")
    func ringViolationStops() throws {
        let guest = try TestGuest()
        let q = try guest.makeQueue(size: 8)
        let irq = RecordingInterrupts()
        let service = try VirtqueueService(name: "rt-violation")
        let served = Atomic<Int>(0)
        let handler = ClosureHandler { queue in
            queue.forEachRequest { r throws(VirtioDeviceError) in
                served.add(1, ordering: .relaxed)
                try echo(r)
                return .proceed
            }
        }
        service.start(try guest.activation(features: ringFeatures, queues: [q], interrupts: irq), handlers: [0: handler])
        try q.setAvailIndex(9)   // more than the queue size ahead of the device
        try q.notify()
        let error = irq.waitForNeedsReset()
        #expect(error == .queue(index: 0, .availIndexJump(from: 0, to: 9, size: 8)))
        // Further kicks do nothing: the device is dead until reset.
        try q.setAvailIndex(0)
        try q.post([.readable([1]), .writable(1)])
        try q.notify()
        service.loop.sync {}
        let servedCount = served.load(ordering: .relaxed)
        #expect(servedCount == 0)
        #expect(try q.usedIndex() == 0)
        #expect(irq.needsReset.count == 1)
        #expect(!service.isRunning)
        service.shutdown()
    }

    @Test("a head re-posted while still in use is a driver error")
    func headReuse() throws {
        let guest = try TestGuest()
        let q = try guest.makeQueue(size: 8)
        let irq = RecordingInterrupts()
        let service = try VirtqueueService(name: "rt-reuse")
        let held = Mutex<[VirtqueueRequest]>([])
        let handler = ClosureHandler { queue in
            queue.forEachRequest { r throws(VirtioDeviceError) in
                held.withLock { $0.append(r) }
                return .proceed
            }
        }
        service.start(try guest.activation(features: ringFeatures, queues: [q], interrupts: irq), handlers: [0: handler])
        let c = try q.post([.readable([1]), .writable(1)])
        try q.publish(head: c.head)
        try q.notify()
        guard case .malformedRequest(0, c.head, _)? = irq.waitForNeedsReset() else {
            Issue.record("expected a malformed-request NEEDS_RESET, got \(irq.needsReset)")
            return
        }
        service.shutdown()
    }

    @Test("a handler error fails the request: returned with length 0, NEEDS_RESET")
    func malformedRequest() throws {
        let guest = try TestGuest()
        let q = try guest.makeQueue(size: 8)
        let irq = RecordingInterrupts()
        let service = try VirtqueueService(name: "rt-malformed")
        let handler = ClosureHandler { queue in
            queue.forEachRequest { r throws(VirtioDeviceError) in
                throw .malformedRequest(queue: r.queueIndex, head: r.head, reason: "test")
            }
        }
        service.start(try guest.activation(features: ringFeatures, queues: [q], interrupts: irq), handlers: [0: handler])
        let c = try q.post([.readable([1]), .writable(1)])
        try q.notify()
        #expect(irq.waitForNeedsReset() == .malformedRequest(queue: 0, head: c.head, reason: "test"))
        let used = try q.takeUsed()
        #expect(used.count == 1 && used[0].length == 0)
        service.shutdown()
    }

    @Test("reset then a new activation: fresh rings are served, the old ones untouched")
    func reactivate() throws {
        let guest = try TestGuest()
        let irq = RecordingInterrupts()
        let service = try VirtqueueService(name: "rt-again")
        let handler = { ClosureHandler { $0.forEachRequest { r throws(VirtioDeviceError) in try echo(r); return .proceed } } }
        let first = try guest.makeQueue(size: 8)
        service.start(try guest.activation(features: ringFeatures, queues: [first], interrupts: irq), handlers: [0: handler()])
        try first.post([.readable([1]), .writable(1)])
        try first.notify()
        _ = try first.waitUsed(1)
        service.stop()
        let second = try guest.makeQueue(size: 8)
        service.start(try guest.activation(features: ringFeatures, queues: [second], interrupts: irq), handlers: [0: handler()])
        try first.post([.readable([2]), .writable(1)])
        try first.notify()
        try second.post([.readable([3]), .writable(1)])
        try second.notify()
        _ = try second.waitUsed(1)
        service.loop.sync {}
        #expect(try first.usedIndex() == 1)
        service.shutdown()
    }
}

@Suite("Runtime: helpers")
struct RuntimeHelperTests {
    @Test("token bucket: takes what it has, refills at the configured rate, reports the wait")
    func tokenBucket() {
        let t0 = ContinuousClock.now
        var b = TokenBucket(capacity: 1000, period: .seconds(1), now: t0)
        #expect(b.take(upTo: 600, now: t0) == 600)
        #expect(b.take(upTo: 600, now: t0) == 400)
        #expect(b.take(upTo: 1, now: t0) == 0)
        #expect(b.delay(untilAvailable: 100, now: t0) == .milliseconds(100))
        #expect(b.take(upTo: 1000, now: t0 + .milliseconds(250)) == 250)
        // Never more than the capacity, however long it idles.
        #expect(b.take(upTo: 5000, now: t0 + .seconds(60)) == 1000)
        #expect(b.delay(untilAvailable: 5000, now: t0 + .seconds(60)) == .seconds(1))
    }

    @Test("worker threads run every job, off the submitting thread, and drain at shutdown")
    func workers() throws {
        let pool = try WorkerThreads(name: "rt-workers", count: 2)
        let count = Atomic<Int>(0)
        for _ in 0..<100 { pool.submit { count.add(1, ordering: .relaxed) } }
        pool.shutdown()
        let ran = count.load(ordering: .relaxed)
        #expect(ran == 100)
        #expect(!pool.submit {})
    }

    @Test("guest slices of a chain: adjacent buffers merge, order is kept")
    func slices() throws {
        let guest = try TestGuest()
        let a = guest.allocate(64)
        try guest.memory.writeBytes(Array(0..<64), at: a)
        let buffers = [GuestBuffer(address: a, length: 16), GuestBuffer(address: a + 16, length: 16), GuestBuffer(address: a + 48, length: 16)]
        let (count, bytes) = try guest.memory.withSlices(of: buffers) { slices in
            (slices.count, slices.flatMap { Array(UnsafeRawBufferPointer($0)) })
        }
        #expect(count == 2)
        #expect(bytes == Array(0..<32) + Array(48..<64))
    }
}
