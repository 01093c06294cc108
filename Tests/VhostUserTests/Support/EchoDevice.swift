import DeviceModel
import Synchronization
import Virtio

/// A minimal device for protocol tests: every chain on queue 0 gets its readable bytes
/// copied into its writable buffers. Runs its queue on its own event loop, as real devices do.
final class EchoDevice: VirtioDevice, @unchecked Sendable {
    // SAFETY (@unchecked): `running` and the queue state are touched only on `loop`'s thread;
    // counters are behind `stats`.
    let deviceType = VirtioDeviceType.entropy
    let offeredFeatures: UInt64 = VirtioFeature.version1 | VirtioFeature.eventIndex | VirtioFeature.indirectDescriptors
    let queueMaxSizes: [UInt16]

    struct Stats {
        var activations = 0
        var resets = 0
        var processed = 0
        var lastFeatures: UInt64 = 0
        var config: [UInt8] = [0x53, 0x44, 0x4d, 0x21, 0, 0, 0, 0]
    }
    let stats = Mutex(Stats())
    private let loop: EventLoop
    private var running: (activation: VirtioActivation, watches: [EventSource])?

    init(queues: Int = 1) throws {
        queueMaxSizes = Array(repeating: 256, count: queues)
        loop = try EventLoop(name: "echo-device")
    }

    deinit { loop.shutdown() }

    func readConfig() -> [UInt8] { stats.withLock { $0.config } }

    func writeConfig(offset: Int, bytes: [UInt8]) {
        // Only bytes 4..<8 are writable.
        stats.withLock { s in
            for (i, b) in bytes.enumerated() where (4..<8).contains(offset + i) { s.config[offset + i] = b }
        }
    }

    func activate(_ activation: VirtioActivation) throws(VirtioDeviceError) {
        guard activation.queue(0) != nil else { throw .missingQueue(0) }
        stats.withLock {
            $0.activations += 1
            $0.lastFeatures = activation.features
        }
        loop.sync { [self] in
            var watches: [EventSource] = []
            for binding in activation.queues {
                watches.append(loop.watch(fd: binding.kick.fd) { [self] _ in
                    binding.kick.drain()
                    self.process(binding)
                })
            }
            running = (activation, watches)
            for binding in activation.queues { process(binding) }
        }
    }

    func reset() {
        stats.withLock { $0.resets += 1 }
        loop.sync { [self] in
            for w in running?.watches ?? [] { w.cancel() }
            running = nil
        }
    }

    private func process(_ binding: VirtioQueueBinding) {
        guard let activation = running?.activation else { return }
        let queue = binding.queue
        do {
            while let chain = try queue.popAvailable() {
                var reader = ChainReader(memory: activation.memory, buffers: chain.readable)
                var writer = ChainWriter(memory: activation.memory, buffers: chain.writable)
                let n = min(reader.remaining, writer.remaining)
                do {
                    if reader.remaining == 0 {
                        // Nothing to echo: behave like an entropy source with a known pattern.
                        try writer.write((0..<writer.remaining).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) })
                    }
                    try writer.write(try reader.read(count: n))
                } catch {
                    throw VirtioDeviceError.malformedRequest(queue: binding.index, head: chain.head, reason: "\(error)")
                }
                try queue.pushUsed(head: chain.head, bytesWritten: UInt32(writer.bytesWritten))
                stats.withLock { $0.processed += 1 }
            }
            if try queue.needsNotification() { activation.interrupts.signalUsedBuffers(queue: binding.index) }
        } catch let e as VirtqueueError {
            stop(activation, .queue(index: binding.index, e))
        } catch let e as VirtioDeviceError {
            stop(activation, e)
        } catch {
            stop(activation, .host(what: "\(error)", errno: 0))
        }
    }

    private func stop(_ activation: VirtioActivation, _ error: VirtioDeviceError) {
        for w in running?.watches ?? [] { w.cancel() }
        running = nil
        activation.interrupts.deviceNeedsReset(error)
    }
}
