import DeviceModel
import Display
import Logging

/// Everything the 2D commands change: the resource table, the scanouts and the host memory
/// charged for them. Lives behind ``GPU2DRenderer``'s lock.
struct GPUState {
    let configuration: VirtioGPUConfiguration
    let surfaces: [DisplaySurface]
    let logger: Logger

    var resources: [UInt32: GPUResource] = [:]
    var scanouts: [GPUScanout]
    /// Bytes of resource images plus display surfaces of enabled scanouts.
    var hostMemory = 0
    /// The out-of-memory warning is logged once per device reset (a guest could repeat it).
    var warnedOutOfMemory = false
    /// True while the state is frozen for a save, or waits for a saved one: the queues take
    /// no command (see ``VirtioGPUDevice``'s device state).
    var held = false

    init(configuration: VirtioGPUConfiguration, surfaces: [DisplaySurface], logger: Logger) {
        self.configuration = configuration
        self.surfaces = surfaces
        self.logger = logger
        self.scanouts = Array(repeating: GPUScanout(), count: configuration.scanouts.count)
    }

    /// True when `bytes` more fit under the limit (strictly, as QEMU's `hostmem` check).
    /// Logs the refusal, naming the limit.
    mutating func admits(_ bytes: Int, for what: @autoclosure () -> String) -> Bool {
        let (total, overflow) = hostMemory.addingReportingOverflow(bytes)
        if !overflow, total < configuration.maxHostMemory { return true }
        let message: Logger.Message = "virtio-gpu: \(what()) needs \(bytes) bytes; \(hostMemory) in use, over the host memory limit of \(configuration.maxHostMemory) bytes (maxHostMemory): ERR_OUT_OF_MEMORY"
        if warnedOutOfMemory {
            logger.debug(message)
        } else {
            warnedOutOfMemory = true
            logger.warning(message)
        }
        return false
    }

    /// Turns scanout `index` off (`SET_SCANOUT` with resource 0, or its resource went away).
    mutating func disableScanout(_ index: Int) {
        let s = scanouts[index]
        if s.resourceID != 0 { resources[s.resourceID]?.scanouts.remove(index) }
        hostMemory -= s.surfaceBytes
        scanouts[index] = GPUScanout()
        surfaces[index].disable()
    }

    /// Drops a resource, turning off the scanouts that show it.
    mutating func destroy(_ id: UInt32) {
        guard let resource = resources[id] else { return }
        for index in resource.scanouts.sorted() { disableScanout(index) }
        hostMemory -= resource.hostMemory
        resources[id] = nil
    }

    /// Device reset: every resource dropped, every scanout off, cursors hidden.
    mutating func reset() {
        for index in scanouts.indices {
            disableScanout(index)
            surfaces[index].setCursor(DisplayCursor())
        }
        resources.removeAll()
        hostMemory = 0
        warnedOutOfMemory = false
        held = false
    }

    /// A resource that must exist (and, for transfers and scanouts, have backing), or the
    /// error QEMU's `virtio_gpu_find_check_resource` answers.
    func resource(_ id: UInt32, requireBacking: Bool, _ command: String) throws(GPUCommandError) -> GPUResource {
        guard let r = resources[id] else {
            logger.debug("virtio-gpu \(command): no resource \(id)")
            throw GPUCommandError(.errInvalidResourceID)
        }
        if requireBacking, r.backing == nil {
            logger.debug("virtio-gpu \(command): resource \(id) has no backing")
            throw GPUCommandError(.errUnspecified)
        }
        return r
    }
}
