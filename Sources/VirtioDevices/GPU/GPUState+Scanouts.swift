import DeviceModel
import Display

/// The display commands of §5.7.6.8: modes, EDID, scanouts, transfers and flushes.
extension GPUState {
    /// `GET_DISPLAY_INFO`: every configured scanout enabled at its preferred size.
    func displayInfo() -> GPUReply {
        var payload: [UInt8] = []
        payload.reserveCapacity(VirtioGPUProtocol.maximumScanouts * 24)
        for i in 0..<VirtioGPUProtocol.maximumScanouts {
            let mode = i < configuration.scanouts.count ? configuration.scanouts[i] : nil
            payload.appendLittleEndian(UInt32(0))                               // r.x
            payload.appendLittleEndian(UInt32(0))                               // r.y
            payload.appendLittleEndian(UInt32(truncatingIfNeeded: mode?.width ?? 0))
            payload.appendLittleEndian(UInt32(truncatingIfNeeded: mode?.height ?? 0))
            payload.appendLittleEndian(UInt32(mode == nil ? 0 : 1))            // enabled
            payload.appendLittleEndian(UInt32(0))                               // flags
        }
        return GPUReply(type: .okDisplayInfo, payload: payload)
    }

    /// `GET_EDID`: scanout, padding. Answers `size` = 128 and the EDID base block.
    func edid(_ r: GPURequestBytes) throws(GPUCommandError) -> GPUReply {
        let index = r.u32(24)
        guard index < configuration.scanouts.count else {
            logger.debug("virtio-gpu GET_EDID: no scanout \(index)")
            throw GPUCommandError(.errInvalidParameter)
        }
        let mode = configuration.scanouts[Int(index)]
        let block = GPUEDID.block(width: mode.width, height: mode.height)
        var payload: [UInt8] = []
        payload.appendLittleEndian(UInt32(block.count))
        payload.appendLittleEndian(UInt32(0))
        payload += block
        payload += [UInt8](repeating: 0, count: 1024 - block.count)
        return GPUReply(type: .okEDID, payload: payload)
    }

    /// `SET_SCANOUT`: r, scanout_id, resource_id. Resource 0 turns the scanout off; otherwise
    /// the scanout shows `r` of the resource (at least 16×16, inside it) and gets a
    /// surface of that size with the resource's pixels.
    mutating func setScanout(_ q: GPURequestBytes) throws(GPUCommandError) -> GPUReply {
        let rect = q.rect(24), index = q.u32(40), id = q.u32(44)
        guard index < scanouts.count else {
            logger.debug("virtio-gpu SET_SCANOUT: no scanout \(index)")
            throw GPUCommandError(.errInvalidScanoutID)
        }
        let i = Int(index)
        if id == 0 {
            disableScanout(i)
            return .ok
        }
        let resource = try resource(id, requireBacking: true, "SET_SCANOUT")
        let minimum = UInt32(VirtioGPUConfiguration.minimumScanoutSide)
        guard rect.width >= minimum, rect.height >= minimum,
              rect.fits(width: resource.width, height: resource.height) else {
            logger.debug("virtio-gpu SET_SCANOUT: rectangle \(rect) for scanout \(i) is not inside resource \(id) (\(resource.width)x\(resource.height)) or smaller than 16x16")
            throw GPUCommandError(.errInvalidParameter)
        }
        let shown = rect.displayRect
        let old = scanouts[i]
        let surfaceBytes = shown.width * shown.height * PixelFormat.bytesPerPixel
        if surfaceBytes > old.surfaceBytes {
            guard admits(surfaceBytes - old.surfaceBytes, for: "the surface of scanout \(i) at \(shown.width)x\(shown.height)") else {
                throw GPUCommandError(.errOutOfMemory)
            }
        }
        do { try surfaces[i].setMode(width: shown.width, height: shown.height) } catch {
            logger.debug("virtio-gpu SET_SCANOUT: scanout \(i): \(error)")
            throw GPUCommandError(.errOutOfMemory)
        }
        if old.resourceID != 0 { resources[old.resourceID]?.scanouts.remove(i) }
        resources[id]?.scanouts.insert(i)
        hostMemory += surfaceBytes - old.surfaceBytes
        scanouts[i] = GPUScanout(resourceID: id, rect: shown, surfaceBytes: surfaceBytes)
        surfaces[i].draw(from: resource.image, rect: shown, toX: 0, y: 0)
        return .ok
    }

    /// `RESOURCE_FLUSH`: r, resource_id. Copies `r` to every scanout showing the resource,
    /// at its place in the scanout.
    func flush(_ q: GPURequestBytes) throws(GPUCommandError) -> GPUReply {
        let rect = q.rect(24), id = q.u32(40)
        let resource = try resource(id, requireBacking: false, "RESOURCE_FLUSH")
        guard rect.fits(width: resource.width, height: resource.height) else {
            logger.debug("virtio-gpu RESOURCE_FLUSH: rectangle \(rect) outside resource \(id) (\(resource.width)x\(resource.height))")
            throw GPUCommandError(.errInvalidParameter)
        }
        let flushed = rect.displayRect
        for i in resource.scanouts.sorted() {
            let scanout = scanouts[i]
            let part = flushed.intersection(scanout.rect)
            guard !part.isEmpty else { continue }
            surfaces[i].draw(from: resource.image, rect: part, toX: part.x - scanout.rect.x, y: part.y - scanout.rect.y)
        }
        return .ok
    }

    /// `TRANSFER_TO_HOST_2D`: r, offset, resource_id. Copies `r` from the backing into the
    /// image with QEMU's layout: rows of `width × 4` bytes; row `h` of the rectangle starts
    /// at `offset + h × stride`, except that a whole-width rectangle is one contiguous run
    /// of `height × stride` bytes from `offset`. A transfer needing bytes past the end of the
    /// backing is refused (QEMU copies the part that exists).
    func transferToHost2D(_ q: GPURequestBytes, memory: any GuestMemory) throws(GPUCommandError) -> GPUReply {
        let rect = q.rect(24), offset64 = q.u64(40), id = q.u32(48)
        let resource = try resource(id, requireBacking: true, "TRANSFER_TO_HOST_2D")
        guard rect.fits(width: resource.width, height: resource.height) else {
            logger.debug("virtio-gpu TRANSFER_TO_HOST_2D: rectangle \(rect) outside resource \(id) (\(resource.width)x\(resource.height))")
            throw GPUCommandError(.errInvalidParameter)
        }
        guard let backing = resource.backing, rect.width > 0, rect.height > 0 else { return .ok }
        let stride = resource.stride, bpp = PixelFormat.bytesPerPixel
        let x = Int(rect.x), y = Int(rect.y), width = Int(rect.width), height = Int(rect.height)
        let wholeRows = x == 0 && width == resource.width
        // Bytes of backing the transfer reads, from `offset` on (all terms below 2^31).
        let span = wholeRows ? stride * height : stride * (height - 1) + width * bpp
        guard offset64 <= UInt64(backing.length), span <= backing.length - Int(offset64) else {
            logger.debug("virtio-gpu TRANSFER_TO_HOST_2D: rectangle \(rect) at offset \(offset64) needs \(span) bytes of resource \(id)'s \(backing.length)-byte backing")
            throw GPUCommandError(.errInvalidParameter)
        }
        let offset = Int(offset64)
        let copied: Result<Void, GuestMemoryError> = resource.image.withMutableBytes { pixels in
            Result { () throws(GuestMemoryError) in
                if wholeRows {
                    let start = y * stride
                    try backing.read(at: offset, into: UnsafeMutableRawBufferPointer(rebasing: pixels[start..<start + span]),
                                     memory: memory)
                } else {
                    for row in 0..<height {
                        let start = (y + row) * stride + x * bpp
                        try backing.read(at: offset + row * stride,
                                         into: UnsafeMutableRawBufferPointer(rebasing: pixels[start..<start + width * bpp]),
                                         memory: memory)
                    }
                }
            }
        }
        if case .failure(let error) = copied {
            logger.debug("virtio-gpu TRANSFER_TO_HOST_2D: resource \(id): \(error)")
            throw GPUCommandError(.errUnspecified)
        }
        return .ok
    }
}
