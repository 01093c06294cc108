import DeviceModel
import DeviceModelTesting
import Dispatch
import Foundation
import HostIO
import Synchronization
import Testing
import Virtio
import VirtioDevices
#if canImport(Glibc)
import Glibc
#endif

/// The calling thread's name (as `pthread_setname_np` set it), from `/proc/thread-self/comm`.
func currentThreadName() -> String {
    let comm = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
    return comm.trimmingCharacters(in: .newlines)
}

@Suite("Runtime: queues on several I/O threads")
struct QueueThreadsTests {
    @Test("queue i is served on thread i % N; threads are distinct")
    func roundRobinPlacement() throws {
        let guest = try TestGuest()
        let queues = try (0..<4).map { _ in try guest.makeQueue(size: 8) }
        let irq = RecordingInterrupts()
        let service = try VirtqueueService(name: "rt-mt", queueThreads: 2)
        let servedOn = Mutex<[Int: String]>([:])
        let handler = ClosureHandler { queue in
            queue.forEachRequest { r throws(VirtioDeviceError) in
                servedOn.withLock { $0[queue.index] = currentThreadName() }
                try echo(r)
                return .proceed
            }
        }
        service.start(try guest.activation(features: ringFeatures, queues: queues, interrupts: irq),
                      handlers: Dictionary(uniqueKeysWithValues: (0..<4).map { ($0, handler as any VirtqueueHandler) }))
        for q in queues {
            try q.post([.readable([9]), .writable(1)])
            try q.notify()
        }
        for q in queues { _ = try q.waitUsed(1) }
        let names = servedOn.withLock { $0 }
        #expect(names == [0: "rt-mt", 1: "rt-mt/1", 2: "rt-mt", 3: "rt-mt/1"])
        #expect(service.loops.count == 2)
        #expect(service.loop(forQueue: 3) === service.loops[1])
        #expect(irq.needsReset.isEmpty)
        service.shutdown()
    }

    @Test("a ring violation on one thread's queue stops every thread's queues; NEEDS_RESET once")
    func failureStopsAllThreads() throws {
        let guest = try TestGuest()
        let queues = try (0..<2).map { _ in try guest.makeQueue(size: 8) }
        let irq = RecordingInterrupts()
        let service = try VirtqueueService(name: "rt-mtfail", queueThreads: 2)
        let served = Atomic<Int>(0)
        let handler = ClosureHandler { queue in
            queue.forEachRequest { r throws(VirtioDeviceError) in
                served.add(1, ordering: .relaxed)
                try echo(r)
                return .proceed
            }
        }
        service.start(try guest.activation(features: ringFeatures, queues: queues, interrupts: irq), handlers: [0: handler, 1: handler])
        try queues[1].setAvailIndex(9)   // hostile: more than the queue size ahead
        try queues[1].notify()
        #expect(irq.waitForNeedsReset() == .queue(index: 1, .availIndexJump(from: 0, to: 9, size: 8)))
        // Queue 0, on the other thread, is dead too.
        try queues[0].post([.readable([1]), .writable(1)])
        try queues[0].notify()
        for loop in service.loops { loop.sync {} }
        #expect(served.load(ordering: .relaxed) == 0)
        #expect(try queues[0].usedIndex() == 0)
        #expect(irq.needsReset.count == 1)
        #expect(!service.isRunning)
        service.shutdown()
    }

    @Test("stop drains the requests in flight on every thread before it halts")
    func stopDrainsEveryThread() throws {
        let guest = try TestGuest()
        let queues = try (0..<2).map { _ in try guest.makeQueue(size: 8) }
        let irq = RecordingInterrupts()
        let service = try VirtqueueService(name: "rt-mtstop", workerThreads: 2, queueThreads: 2)
        let started = DispatchSemaphore(value: 0)
        // Each queue's handler is told to stop when its thread drains; the work in flight
        // finishes only once both threads are draining, so its completions must still land.
        let draining = DispatchSemaphore(value: 0)
        let handler = ClosureHandler { queue in
            queue.forEachRequest { r throws(VirtioDeviceError) in
                r.offload { r in
                    started.signal()
                    draining.wait()
                    try? echo(r)
                }
                return .proceed
            }
        }
        handler.onStop = { _ in draining.signal() }
        service.start(try guest.activation(features: ringFeatures, queues: queues, interrupts: irq), handlers: [0: handler, 1: handler])
        for q in queues {
            try q.post([.readable([5]), .writable(1)])
            try q.notify()
        }
        #expect(started.wait(timeout: .now() + 20) == .success)
        #expect(started.wait(timeout: .now() + 20) == .success)
        service.stop()
        #expect(try queues[0].usedIndex() == 1)
        #expect(try queues[1].usedIndex() == 1)
        #expect(irq.needsReset.isEmpty)
        #expect(!service.isRunning)
        // A new activation runs on both threads again.
        service.start(try guest.activation(features: ringFeatures, queues: queues, interrupts: irq), handlers: [:])
        #expect(service.isRunning)
        service.shutdown()
    }
}

/// An in-memory disk that records the thread each read ran on.
final class ThreadRecordingBackend: BlockBackend {
    let capacity: UInt64 = 1 << 20
    let isReadOnly = false
    let readers = Mutex<Set<String>>([])
    func read(into buffers: [UnsafeMutableRawBufferPointer], at offset: UInt64) throws(BlockBackendError) {
        let name = currentThreadName()
        readers.withLock { _ = $0.insert(name) }
        for b in buffers { b.initializeMemory(as: UInt8.self, repeating: 0x5A) }
    }
    func write(from buffers: [UnsafeMutableRawBufferPointer], at offset: UInt64) throws(BlockBackendError) {}
    func flush() throws(BlockBackendError) {}
    func discard(offset: UInt64, length: UInt64) throws(BlockBackendError) {}
    func writeZeroes(offset: UInt64, length: UInt64, mayUnmap: Bool) throws(BlockBackendError) {}
}

@Suite("virtio-blk multiqueue on several I/O threads")
struct BlockQueueThreadsTests {
    @Test("num_queues 3 on 3 I/O threads: each queue's requests run on its own thread")
    func eachQueueItsThread() throws {
        let backend = ThreadRecordingBackend()
        var config = VirtioBlockConfiguration(path: "threads", queues: 3, aio: .inline)
        config.queueThreads = 3
        let device = try VirtioBlockDevice(configuration: config, backend: backend, name: "mq-blk")
        #expect(device.service.loops.map(\.name) == ["mq-blk", "mq-blk/1", "mq-blk/2"])
        let guest = try TestGuest()
        let queues = try device.queueMaxSizes.map { _ in try guest.makeQueue(size: 16) }
        #expect(queues.count == 3)
        let irq = RecordingInterrupts()
        try device.activate(try guest.activation(features: device.offeredFeatures, queues: queues, interrupts: irq))
        for (i, q) in queues.enumerated() {
            let c = try q.post([.readable(blkHeader(0, sector: UInt64(i))), .writable(512), .writable(1)])
            try q.notify()
            let used = try q.waitUsed(1)
            #expect(used.count == 1 && UInt16(used[0].id) == c.head)
            #expect(try guest.bytes(at: c.writable[1].address, count: 1) == [0])   // VIRTIO_BLK_S_OK
            #expect(try guest.bytes(at: c.writable[0].address, count: 512) == Array(repeating: 0x5A, count: 512))
        }
        #expect(backend.readers.withLock { $0 } == ["mq-blk", "mq-blk/1", "mq-blk/2"])
        device.reset()
        #expect(!device.service.isRunning)
        #expect(irq.needsReset.isEmpty)
    }

    @Test("more I/O threads than queues start no idle threads")
    func threadsBoundedByQueues() throws {
        var config = VirtioBlockConfiguration(path: "threads", queues: 2, aio: .inline)
        config.queueThreads = 8
        #expect(config.effectiveQueueThreads == 2)
        config.queueThreads = 0
        #expect(throws: VirtioBlockError.invalidConfiguration("queue threads 0 not in 1...64")) {
            try VirtioBlockDevice(configuration: config, backend: ThreadRecordingBackend())
        }
    }
}
