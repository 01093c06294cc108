import DeviceModel
import HostIO
import Virtio

/// Serves the request queue: each chain gets as many random bytes as its writable part
/// holds, or, under a rate limit, as many as there are tokens (at least one, §5.4.6.1
/// allows partial fills: the used length says how many).
final class EntropyQueueHandler: VirtqueueHandler, @unchecked Sendable {
    // SAFETY (@unchecked): all state is touched only on the device's I/O thread
    // (VirtqueueHandler callbacks and the timer it schedules there).
    /// The most bytes one request gets (QEMU's virtio-rng caps an element the same way):
    /// a chain whose writable buffers cover GiBs would otherwise hold the I/O thread — and
    /// a reset waiting for it — for seconds of `getrandom`. §5.4.6.1 allows partial fills.
    static let maximumBytesPerRequest = 64 << 10

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
        let wanted = min(request.chain.writableLength, Self.maximumBytesPerRequest)
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
            let filled = try request.withHostSlices(of: buffers) { slices -> Bool in
                do throws(HostEntropyError) {
                    for s in slices { try HostEntropy.fill(s) }
                    return true
                } catch {
                    return false
                }
            }
            if !filled {
                // The host cannot produce entropy: a device fault, not the driver's. Report
                // what was produced so far (nothing).
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
