import DeviceModel

/// virtio-rng (virtio 1.2 §5.4): one request queue whose device-writable buffers the device
/// fills with bytes from the host's `getrandom(2)`, optionally rate limited.
public final class VirtioEntropyDevice: VirtioDevice {
    public let configuration: VirtioEntropyConfiguration
    public let service: VirtqueueService

    public init(configuration: VirtioEntropyConfiguration = .init(), name: String = "virtio-rng") throws(VirtioEntropyError) {
        if let limit = configuration.rateLimit, limit.bytes == 0 || limit.period <= .zero {
            throw .invalidRateLimit(bytes: limit.bytes, period: limit.period)
        }
        let size = configuration.queueSize
        guard size > 0, size <= 32768, size & (size - 1) == 0 else { throw .invalidQueueSize(size) }
        self.configuration = configuration
        do { service = try VirtqueueService(name: name) } catch { throw .runtime(error) }
    }

    public var deviceType: VirtioDeviceType { .entropy }
    public var offeredFeatures: UInt64 {
        VirtioFeature.version1 | VirtioFeature.eventIndex | VirtioFeature.indirectDescriptors
    }
    public var queueMaxSizes: [UInt16] { [configuration.queueSize] }
    /// virtio-rng has no configuration space.
    public func readConfig() -> [UInt8] { [] }
    public func writeConfig(offset: Int, bytes: [UInt8]) {}

    public func activate(_ activation: VirtioActivation) throws(VirtioDeviceError) {
        let bucket = configuration.rateLimit.map { TokenBucket(capacity: $0.bytes, period: $0.period) }
        service.start(activation, handlers: [0: EntropyQueueHandler(bucket: bucket)])
    }

    public func reset() { service.stop() }
}

/// Serves the request queue: each chain gets as many random bytes as its writable part
/// holds, or, under a rate limit, as many as there are tokens (at least one, §5.4.6.1
/// allows partial fills: the used length says how many).
final class EntropyQueueHandler: VirtqueueHandler, @unchecked Sendable {
    // SAFETY (@unchecked): all state is touched only on the device's I/O thread
    // (VirtqueueHandler callbacks and the timer it schedules there).
    private var bucket: TokenBucket?
    /// A request waiting for tokens; the queue is paused while it exists.
    private var parked: VirtqueueRequest?
    private var timer: EventSource?

    init(bucket: TokenBucket?) { self.bucket = bucket }

    func serve(_ queue: ServedQueue) {
        if let request = parked {
            guard serveOne(request, queue) else { return }
            parked = nil
        }
        queue.forEachRequest { request throws(VirtioDeviceError) in
            serveOne(request, queue) ? .proceed : .pause
        }
    }

    func stop(_ queue: ServedQueue) {
        timer?.cancel()
        timer = nil
        parked = nil
    }

    /// Fills and completes `request`, or parks it and arms the refill timer (returns false).
    private func serveOne(_ request: VirtqueueRequest, _ queue: ServedQueue) -> Bool {
        let wanted = request.chain.writableLength
        var count = wanted
        if var b = bucket, wanted > 0 {
            count = Int(b.take(upTo: UInt64(wanted)))
            if count == 0 {
                let wait = b.delay(untilAvailable: UInt64(wanted))
                bucket = b
                parked = request
                queue.pause()
                timer = queue.schedule(after: wait) { [weak queue] in
                    queue?.resume()
                    return false
                }
                return false
            }
            bucket = b
        }
        var writer = request.makeWriter()
        do {
            let buffers = try writer.takeBuffers(count: count)
            let failure = try request.memory.withSlices(of: buffers) { slices -> Int32? in
                for s in slices { if let e = HostEntropy.fill(s) { return e } }
                return nil
            }
            if let failure {
                // The host cannot produce entropy: a device fault, not the driver's. Report
                // what was produced so far (nothing).
                _ = failure
                request.complete(bytesWritten: 0)
                return true
            }
        } catch {
            request.fail("entropy buffer: \(error)")
            return true
        }
        request.complete(bytesWritten: count)
        return true
    }
}
