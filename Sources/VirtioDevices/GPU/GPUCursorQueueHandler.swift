import DeviceModel
import Virtio

/// Serves the cursor queue (§5.7.2 queue 1): `UPDATE_CURSOR` and `MOVE_CURSOR` get no
/// response (each chain returns with nothing written, as in QEMU); a request shorter than
/// `virtio_gpu_update_cursor` is skipped.
final class GPUCursorQueueHandler: VirtqueueHandler {
    let renderer: GPU2DRenderer

    init(renderer: GPU2DRenderer) { self.renderer = renderer }

    func serve(_ queue: ServedQueue) {
        guard !renderer.isHeld else { return }
        queue.forEachRequest { request throws(VirtioDeviceError) in
            var reader = request.makeReader()
            if reader.remaining >= VirtioGPUProtocol.updateCursorSize,
               let bytes = try? reader.read(count: VirtioGPUProtocol.updateCursorSize) {
                renderer.cursor(GPURequestBytes(bytes: bytes))
            }
            request.complete(bytesWritten: 0)
            return .proceed
        }
    }
}
