import DeviceModel
import Virtio
#if canImport(Glibc)
import Glibc
#endif

/// A device on the real ``VirtqueueService`` runtime (as blk, net, rng and console are) whose
/// requests complete on a worker thread after `delay`, writing its readable bytes back
/// reversed: it keeps requests in flight long enough for a frontend to stop the ring or
/// replace the memory table under them.
final class SlowServiceDevice: VirtioDevice {
    let deviceType = VirtioDeviceType.entropy
    let offeredFeatures: UInt64 = VirtioFeature.version1 | VirtioFeature.eventIndex | VirtioFeature.indirectDescriptors
    let queueMaxSizes: [UInt16] = [256]
    let service: VirtqueueService
    let delay: Duration

    init(delay: Duration = .milliseconds(50)) throws {
        self.delay = delay
        service = try VirtqueueService(name: "slow-device", workerThreads: 1)
    }

    func readConfig() -> [UInt8] { [] }
    func writeConfig(offset: Int, bytes: [UInt8]) {}

    func activate(_ activation: VirtioActivation) throws(VirtioDeviceError) {
        guard activation.queue(0) != nil else { throw .missingQueue(0) }
        service.start(activation, handlers: [0: Handler(delay: delay)])
    }

    func reset() { service.stop() }

    private final class Handler: VirtqueueHandler {
        let delay: Duration
        init(delay: Duration) { self.delay = delay }

        func serve(_ queue: ServedQueue) {
            let delay = self.delay
            queue.forEachRequest { request throws(VirtioDeviceError) in
                request.offload { request in
                    let ms = delay.components.seconds * 1000 + delay.components.attoseconds / 1_000_000_000_000_000
                    usleep(UInt32(ms * 1000))
                    var reader = request.makeReader()
                    var writer = request.makeWriter()
                    guard let input = try? reader.read(count: reader.remaining) else {
                        request.complete(bytesWritten: 0)
                        return
                    }
                    let out = Array(input.reversed().prefix(writer.remaining))
                    do { try writer.write(out) } catch {
                        request.complete(bytesWritten: 0)
                        return
                    }
                    request.complete(bytesWritten: out.count)
                }
                return .proceed
            }
        }
    }
}
