import DeviceModel
import Display
import Logging
import Synchronization

/// The 2D command engine shared by the control and cursor queues: decodes a command and
/// applies it to the ``GPUState``.
///
/// Threading: both queues are served on the device's one I/O thread, so commands never run
/// concurrently; the state still sits behind one `Mutex` so that ``reset()`` and
/// ``hostMemoryInUse`` are safe from the transport's (vCPU) thread. Surface calls made under
/// the lock take only the surface's own lock, and surface observers must not call back into
/// the device.
final class GPU2DRenderer: Sendable {
    private let state: Mutex<GPUState>

    init(configuration: VirtioGPUConfiguration, surfaces: [DisplaySurface], logger: Logger) {
        state = Mutex(GPUState(configuration: configuration, surfaces: surfaces, logger: logger))
    }

    /// The request size of each control command, header included.
    static let controlCommandSizes: [UInt32: Int] = [
        VirtioGPUProtocol.cmdGetDisplayInfo: VirtioGPUProtocol.headerSize,
        VirtioGPUProtocol.cmdGetEDID: VirtioGPUProtocol.getEDIDSize,
        VirtioGPUProtocol.cmdResourceCreate2D: VirtioGPUProtocol.resourceCreate2DSize,
        VirtioGPUProtocol.cmdResourceUnref: VirtioGPUProtocol.resourceUnrefSize,
        VirtioGPUProtocol.cmdSetScanout: VirtioGPUProtocol.setScanoutSize,
        VirtioGPUProtocol.cmdResourceFlush: VirtioGPUProtocol.resourceFlushSize,
        VirtioGPUProtocol.cmdTransferToHost2D: VirtioGPUProtocol.transferToHost2DSize,
        VirtioGPUProtocol.cmdResourceAttachBacking: VirtioGPUProtocol.attachBackingSize,
        VirtioGPUProtocol.cmdResourceDetachBacking: VirtioGPUProtocol.detachBackingSize,
    ]

    /// The largest fixed request (the handler reads at most this much up front).
    static let largestRequest = VirtioGPUProtocol.transferToHost2DSize

    /// Runs one control command. `request` holds the first ``largestRequest`` bytes (or all,
    /// if fewer); `entries(n)` reads `n` bytes following the `RESOURCE_ATTACH_BACKING`
    /// struct, or nil if the request is shorter.
    func control(_ request: GPURequestBytes, memory: any GuestMemory, entries: (Int) -> [UInt8]?) -> GPUReply {
        state.withLock { s in
            guard request.count >= VirtioGPUProtocol.headerSize else {
                s.logger.debug("virtio-gpu: request of \(request.count) bytes is shorter than its header")
                return GPUReply(.errUnspecified)
            }
            guard let size = Self.controlCommandSizes[request.type] else {
                s.logger.debug("virtio-gpu: unsupported command 0x\(String(request.type, radix: 16))")
                return GPUReply(.errUnspecified)
            }
            guard request.count >= size else {
                s.logger.debug("virtio-gpu: command 0x\(String(request.type, radix: 16)) of \(request.count) bytes, needs \(size)")
                return GPUReply(.errUnspecified)
            }
            do throws(GPUCommandError) {
                switch request.type {
                case VirtioGPUProtocol.cmdGetDisplayInfo: return s.displayInfo()
                case VirtioGPUProtocol.cmdGetEDID: return try s.edid(request)
                case VirtioGPUProtocol.cmdResourceCreate2D: return try s.createResource2D(request)
                case VirtioGPUProtocol.cmdResourceUnref: return try s.unrefResource(request)
                case VirtioGPUProtocol.cmdSetScanout: return try s.setScanout(request)
                case VirtioGPUProtocol.cmdResourceFlush: return try s.flush(request)
                case VirtioGPUProtocol.cmdTransferToHost2D: return try s.transferToHost2D(request, memory: memory)
                case VirtioGPUProtocol.cmdResourceAttachBacking:
                    return try s.attachBacking(request, memory: memory, entries: entries)
                case VirtioGPUProtocol.cmdResourceDetachBacking: return try s.detachBacking(request)
                default: return GPUReply(.errUnspecified)
                }
            } catch {
                return GPUReply(error.response)
            }
        }
    }

    /// Runs one cursor command (`request` of at least `update_cursor`'s 56 bytes).
    func cursor(_ request: GPURequestBytes) {
        state.withLock { $0.cursor(request) }
    }

    /// Drops every resource and turns every scanout off (device reset).
    func reset() {
        state.withLock { $0.reset() }
    }

    /// True while commands wait (a save froze the state, or a restart waits for saved state).
    var isHeld: Bool { state.withLock { $0.held } }

    /// Holds or releases the queues' commands.
    func setHeld(_ on: Bool) { state.withLock { $0.held = on } }

    /// Runs `body` on the state (restoring it).
    func withState<R>(_ body: (inout GPUState) throws(DeviceStateError) -> R) throws(DeviceStateError) -> R {
        try state.withLock { (s: inout GPUState) throws(DeviceStateError) -> R in try body(&s) }
    }

    /// Runs `body` on the state (saving it).
    func withUncheckedState<R>(_ body: (inout GPUState) -> R) -> R { state.withLock { body(&$0) } }

    /// Host bytes the guest's resources and enabled scanouts' surfaces take now.
    var hostMemoryInUse: Int { state.withLock { $0.hostMemory } }

    /// The number of resources.
    var resourceCount: Int { state.withLock { $0.resources.count } }
}
