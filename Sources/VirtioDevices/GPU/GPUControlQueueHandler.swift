import DeviceModel
import Virtio

/// Serves the control queue (§5.7.2 queue 0): each chain holds one command in its readable
/// part and gets its response in the writable part. 2D commands complete synchronously, so
/// a fenced command's response (fence echoed) also signals the fence.
final class GPUControlQueueHandler: VirtqueueHandler {
    let renderer: GPU2DRenderer

    init(renderer: GPU2DRenderer) { self.renderer = renderer }

    func serve(_ queue: ServedQueue) {
        // Commands wait while the state is saved or restored; the device serves the queue
        // again once it is.
        guard !renderer.isHeld else { return }
        queue.forEachRequest { request throws(VirtioDeviceError) in
            serveOne(request)
            return .proceed
        }
    }

    private func serveOne(_ request: VirtqueueRequest) {
        let room = request.chain.writableLength
        guard room >= VirtioGPUProtocol.headerSize else {
            // Not even an error header fits: no response can tell the driver (§2.1.2).
            request.fail("control request with \(room) writable bytes, too few for the \(VirtioGPUProtocol.headerSize)-byte response header")
            return
        }
        let bytes: GPURequestBytes
        do {
            var reader = request.makeReader()
            bytes = GPURequestBytes(bytes: try reader.read(count: min(reader.remaining, GPU2DRenderer.largestRequest)))
        } catch {
            request.fail("control request: \(error)")
            return
        }
        let memory = request.memory
        let reply = renderer.control(bytes, memory: memory) { count in
            var reader = request.makeReader()
            guard reader.remaining >= VirtioGPUProtocol.attachBackingSize + count else { return nil }
            do {
                try reader.skip(VirtioGPUProtocol.attachBackingSize)
                return try reader.read(count: count)
            } catch {
                return nil
            }
        }
        var response = reply.encoded(echoing: bytes)
        if response.count > room {
            // QEMU writes what fits; a truncated OK would look complete to the driver, so
            // the answer becomes an error header, which fits.
            response = GPUReply(.errUnspecified).encoded(echoing: bytes)
        }
        var writer = request.makeWriter()
        do { try writer.write(response) } catch {
            request.fail("control response: \(error)")
            return
        }
        request.complete(bytesWritten: writer.bytesWritten)
    }
}
