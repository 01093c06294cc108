import Synchronization
import Virtio

/// A virtio "echo" device: whatever the driver puts in a chain's device-readable buffers
/// comes back in the same chain's device-writable buffers (as much as fits; the used length
/// says how much).
///
/// It shows what a third-party device needs from swiftdm: implement ``VirtioDevice`` and
/// let a ``VirtqueueService`` run the queue on the device's own I/O thread. The device ID is
/// from the experimental range (0xB0), free for use without registration; a real device
/// would get an ID assigned by the virtio TC. An experimental ID has no virtio-pci device ID
/// (those end at 0x1040 + 63, virtio 1.2 §4.1.2.1), so the device serves on virtio-mmio and
/// vhost-user.
///
/// Configuration space: `le64 echoed_bytes`, the total echoed so far (read-only).
public final class VirtioEchoDevice: VirtioDevice {
    public static let deviceID = VirtioDeviceType(rawValue: 0xB0)
    public let service: VirtqueueService
    private let counter = EchoCounter()

    public init() throws {
        service = try VirtqueueService(name: "virtio-echo")
    }

    public var deviceType: VirtioDeviceType { Self.deviceID }
    public var offeredFeatures: UInt64 {
        VirtioFeature.version1 | VirtioFeature.eventIndex | VirtioFeature.indirectDescriptors
    }
    public var queueMaxSizes: [UInt16] { [64] }

    public func readConfig() -> [UInt8] {
        withUnsafeBytes(of: counter.total.load(ordering: .relaxed).littleEndian) { Array($0) }
    }

    public func writeConfig(offset: Int, bytes: [UInt8]) {}

    public func activate(_ activation: VirtioActivation) throws(VirtioDeviceError) {
        service.start(activation, handlers: [0: EchoHandler(counter: counter)])
    }

    public func reset() { service.stop() }
}

final class EchoCounter: Sendable {
    let total = Atomic<UInt64>(0)
}

/// Runs on the device's I/O thread.
final class EchoHandler: VirtqueueHandler {
    let counter: EchoCounter
    init(counter: EchoCounter) { self.counter = counter }

    func serve(_ queue: ServedQueue) {
        queue.forEachRequest { request throws(VirtioDeviceError) in
            var reader = request.makeReader()
            var writer = request.makeWriter()
            let count = min(reader.remaining, writer.remaining)
            do {
                try writer.write(try reader.read(count: count))
            } catch {
                throw .malformedRequest(queue: queue.index, head: request.head, reason: "echo: \(error)")
            }
            counter.total.add(UInt64(count), ordering: .relaxed)
            request.complete(bytesWritten: count)
            return .proceed
        }
    }
}
