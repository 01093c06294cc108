import DeviceModel
import Display
import Virtio

/// The resource commands of §5.7.6.8, answered as QEMU's `hw/display/virtio-gpu.c` does.
extension GPUState {
    /// `RESOURCE_CREATE_2D`: resource_id, format, width, height.
    mutating func createResource2D(_ r: GPURequestBytes) throws(GPUCommandError) -> GPUReply {
        let id = r.u32(24), format = r.u32(28), width = r.u32(32), height = r.u32(36)
        guard id != 0 else {
            logger.debug("virtio-gpu RESOURCE_CREATE_2D: resource id 0 is not allowed")
            throw GPUCommandError(.errInvalidResourceID)
        }
        guard resources[id] == nil else {
            logger.debug("virtio-gpu RESOURCE_CREATE_2D: resource \(id) already exists")
            throw GPUCommandError(.errInvalidResourceID)
        }
        guard let pixelFormat = VirtioGPUFormat.pixelFormat(format) else {
            logger.debug("virtio-gpu RESOURCE_CREATE_2D: unknown format \(format)")
            throw GPUCommandError(.errInvalidParameter)
        }
        // QEMU lets pixman make a 0-pixel image; nothing can show or fill one, so it is
        // refused here as a bad parameter.
        guard width > 0, height > 0 else {
            logger.debug("virtio-gpu RESOURCE_CREATE_2D: empty size \(width)x\(height)")
            throw GPUCommandError(.errInvalidParameter)
        }
        // Sides below 2^32 make a product below 2^64, which can still pass Int.max.
        let (pixels, overflow) = Int(width).multipliedReportingOverflow(by: Int(height))
        let bytes = overflow || pixels > Int.max / PixelFormat.bytesPerPixel ? Int.max : pixels * PixelFormat.bytesPerPixel
        guard admits(bytes, for: "resource \(id) of \(width)x\(height)") else {
            throw GPUCommandError(.errOutOfMemory)
        }
        let image: PixelImage
        do { image = try PixelImage(width: Int(width), height: Int(height), format: pixelFormat) } catch {
            // Sides over 16384 (pixman's and QEMU's practical limit) or a failed allocation.
            logger.debug("virtio-gpu RESOURCE_CREATE_2D: resource \(id): \(error)")
            throw GPUCommandError(.errOutOfMemory)
        }
        resources[id] = GPUResource(id: id, format: format, image: image, hostMemory: bytes)
        hostMemory += bytes
        return .ok
    }

    /// `RESOURCE_UNREF`: resource_id.
    mutating func unrefResource(_ r: GPURequestBytes) throws(GPUCommandError) -> GPUReply {
        let id = r.u32(24)
        _ = try resource(id, requireBacking: false, "RESOURCE_UNREF")
        destroy(id)
        return .ok
    }

    /// `RESOURCE_ATTACH_BACKING`: resource_id, nr_entries, then `nr_entries` mem entries
    /// (addr, length, padding) after the request. Every entry must lie in guest RAM.
    mutating func attachBacking(_ r: GPURequestBytes, memory: any GuestMemory,
                                entries read: (Int) -> [UInt8]?) throws(GPUCommandError) -> GPUReply {
        let id = r.u32(24), count = r.u32(28)
        let resource = try resource(id, requireBacking: false, "RESOURCE_ATTACH_BACKING")
        guard resource.backing == nil else {
            logger.debug("virtio-gpu RESOURCE_ATTACH_BACKING: resource \(id) already has backing")
            throw GPUCommandError(.errUnspecified)
        }
        guard count <= VirtioGPUProtocol.maximumBackingEntries else {
            logger.debug("virtio-gpu RESOURCE_ATTACH_BACKING: \(count) entries, more than \(VirtioGPUProtocol.maximumBackingEntries)")
            throw GPUCommandError(.errUnspecified)
        }
        let size = Int(count) * VirtioGPUProtocol.memEntrySize
        guard let raw = read(size) else {
            logger.debug("virtio-gpu RESOURCE_ATTACH_BACKING: request too short for \(count) entries")
            throw GPUCommandError(.errUnspecified)
        }
        let table = GPURequestBytes(bytes: raw)
        var entries: [GuestBuffer] = []
        entries.reserveCapacity(Int(count))
        for i in 0..<Int(count) {
            let address = table.u64(i * 16), length = table.u32(i * 16 + 8)
            guard memory.contains(address, length: Int(length)) else {
                logger.debug("virtio-gpu RESOURCE_ATTACH_BACKING: entry \(i) (\(length) bytes at 0x\(String(address, radix: 16))) is not guest RAM")
                throw GPUCommandError(.errUnspecified)
            }
            entries.append(GuestBuffer(address: address, length: length))
        }
        resources[id]?.backing = GPUBacking(entries: entries)
        return .ok
    }

    /// `RESOURCE_DETACH_BACKING`: resource_id.
    mutating func detachBacking(_ r: GPURequestBytes) throws(GPUCommandError) -> GPUReply {
        let id = r.u32(24)
        _ = try resource(id, requireBacking: true, "RESOURCE_DETACH_BACKING")
        resources[id]?.backing = nil
        return .ok
    }
}
