import DeviceModel
import Virtio

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
