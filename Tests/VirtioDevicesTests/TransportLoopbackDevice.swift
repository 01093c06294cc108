import DeviceModel
import Synchronization
import Virtio

/// A small virtio device for transport tests, written as a device author would write one
/// (on its own ``EventLoop`` thread, watching the kick notifiers):
///
/// - queue 0 echoes: every chain's readable bytes are copied into its writable buffers;
/// - queue 1 holds chains until ``releaseHeld()`` (or reset, which completes them);
/// - configuration: `le32 value` (read-only, changed by ``setConfigValue(_:)``, which sends a
///   configuration-change notification) and `le32 scratch` (read-write).
///
/// Any queue error puts the device in `DEVICE_NEEDS_RESET` through its sink and stops it.
final class LoopbackDevice: VirtioDevice {
    static let deviceFeature: UInt64 = 1 << 0

    let deviceType: VirtioDeviceType
    let offeredFeatures: UInt64
    let queueMaxSizes: [UInt16]

    private struct Running {
        var activation: VirtioActivation
        var watches: [EventSource] = []
        var held: [Int: [DescriptorChain]] = [:]
        var stopped = false
    }
    private struct Counters {
        var activations = 0
        var resets = 0
        var echoed = 0
        var faults: [VirtioDeviceError] = []
        var features: UInt64 = 0
    }
    private let loop: EventLoop
    private let running = Mutex<Running?>(nil)
    private let counters = Mutex(Counters())
    private let config = Mutex<(value: UInt32, scratch: UInt32)>((0x1234_5678, 0))

    init(type: VirtioDeviceType = .entropy,
         features: UInt64 = VirtioFeature.version1 | VirtioFeature.eventIndex | VirtioFeature.indirectDescriptors | LoopbackDevice.deviceFeature,
         queueSizes: [UInt16] = [16, 16]) throws {
        deviceType = type
        offeredFeatures = features
        queueMaxSizes = queueSizes
        loop = try EventLoop(name: "loopback-device")
    }

    deinit { loop.shutdown() }

    // MARK: Observations for tests

    var activations: Int { counters.withLock { $0.activations } }
    var resets: Int { counters.withLock { $0.resets } }
    var echoed: Int { counters.withLock { $0.echoed } }
    var faults: [VirtioDeviceError] { counters.withLock { $0.faults } }
    var negotiatedFeatures: UInt64 { counters.withLock { $0.features } }
    var scratch: UInt32 { config.withLock { $0.scratch } }
    var heldCount: Int { loop.sync { self.running.withLock { $0?.held.values.reduce(0) { $0 + $1.count } ?? 0 } } }

    /// Returns once the device thread finished what it was doing (including interrupts it
    /// decided to send), so a test can assert that something did *not* happen.
    func quiesce() { loop.sync {} }

    /// Changes the read-only config field and announces it, as a device would on an
    /// external event.
    func setConfigValue(_ value: UInt32) {
        config.withLock { $0.value = value }
        let sink = running.withLock { $0?.activation.interrupts }
        sink?.signalConfigChange()
    }

    /// Completes all held chains (0 bytes written) and notifies.
    func releaseHeld() {
        loop.sync { self.running.withLock { r in if r != nil { Self.completeHeld(&r!) } } }
    }

    // MARK: VirtioDevice

    func readConfig() -> [UInt8] {
        let (v, s) = config.withLock { ($0.value, $0.scratch) }
        return withUnsafeBytes(of: v.littleEndian) { Array($0) } + withUnsafeBytes(of: s.littleEndian) { Array($0) }
    }

    func writeConfig(offset: Int, bytes: [UInt8]) {
        config.withLock { c in
            var raw = withUnsafeBytes(of: c.scratch.littleEndian) { Array($0) }
            for (i, b) in bytes.enumerated() where (4..<8).contains(offset + i) { raw[offset + i - 4] = b }
            c.scratch = raw.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
        }
    }

    func activate(_ activation: VirtioActivation) throws(VirtioDeviceError) {
        guard activation.queue(0) != nil else { throw .missingQueue(0) }
        counters.withLock {
            $0.activations += 1
            $0.features = activation.features
        }
        loop.sync {
            self.running.withLock { r in
                r = Running(activation: activation)
                for binding in activation.queues {
                    let index = binding.index
                    let kick = binding.kick
                    r!.watches.append(self.loop.watch(fd: kick.fd) { [weak self] _ in
                        kick.drain()
                        self?.process(queue: index)
                    })
                }
            }
            for binding in activation.queues { self.process(queue: binding.index) }
        }
    }

    func reset() {
        loop.sync {
            self.running.withLock { r in
                guard r != nil else { return }
                for w in r!.watches { w.cancel() }
                // In-flight (held) chains complete before reset finishes.
                Self.completeHeld(&r!)
                r = nil
            }
        }
        counters.withLock { $0.resets += 1 }
    }

    // MARK: Processing (loop thread)

    private func process(queue index: Int) {
        running.withLock { r in
            guard r != nil, !r!.stopped, let binding = r!.activation.queue(index) else { return }
            let q = binding.queue
            let sink = r!.activation.interrupts
            do throws(VirtqueueError) {
                while true {
                    while let chain = try q.popAvailable() {
                        if index == 1 {
                            r!.held[index, default: []].append(chain)
                            continue
                        }
                        let written = echo(chain, memory: r!.activation.memory)
                        try q.pushUsed(head: chain.head, bytesWritten: UInt32(written))
                        counters.withLock { $0.echoed += 1 }
                        if try q.needsNotification() { sink.signalUsedBuffers(queue: index) }
                    }
                    if try !q.enableNotifications() { break }
                }
            } catch {
                r!.stopped = true
                counters.withLock { $0.faults.append(.queue(index: index, error)) }
                sink.deviceNeedsReset(.queue(index: index, error))
            }
        }
    }

    private func echo(_ chain: DescriptorChain, memory: any GuestMemory) -> Int {
        var reader = ChainReader(memory: memory, buffers: chain.readable)
        var writer = ChainWriter(memory: memory, buffers: chain.writable)
        let n = min(reader.remaining, writer.remaining)
        guard let bytes = try? reader.read(count: n), (try? writer.write(bytes)) != nil else { return 0 }
        return writer.bytesWritten
    }

    private static func completeHeld(_ r: inout Running) {
        let sink = r.activation.interrupts
        for (index, chains) in r.held {
            guard let q = r.activation.queue(index)?.queue else { continue }
            for chain in chains { try? q.pushUsed(head: chain.head, bytesWritten: 0) }
            if !chains.isEmpty, (try? q.needsNotification()) == true { sink.signalUsedBuffers(queue: index) }
        }
        r.held = [:]
    }
}
