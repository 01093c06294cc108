import DeviceModel
import Display
import Virtio

/// The 2D state as fields of a device-state record, and back. What a restored guest needs to
/// go on drawing without re-creating anything: every resource (id, format, size, the pixels
/// the host holds — the last transfer, which the guest's pages may no longer match — and its
/// backing as guest-physical entries, re-attached to the restored RAM), every scanout (the
/// resource and rectangle it shows) and every cursor (its 64×64 image, hotspot, position).
///
/// Loading validates everything before anything changes: ids, formats, sizes against
/// pixman's limits, pixel byte counts, backing entries inside guest RAM, scanout rectangles
/// inside their resource, and the total against ``VirtioGPUConfiguration/maxHostMemory``
/// (the same limit the guest's own commands meet).
extension GPUState {
    /// A record's contents, checked, before they replace the state.
    struct Loaded {
        var resources: [UInt32: GPUResource] = [:]
        var scanouts: [GPUScanout] = []
        var cursors: [DisplayCursor] = []
        var hostMemory = 0
    }

    func save(into r: inout DeviceStateRecord) {
        let all = resources.values.sorted { $0.id < $1.id }
        r.set("resource-ids", array: all.map(\.id))
        r.set("resource-formats", array: all.map(\.format))
        r.set("resource-widths", array: all.map { UInt64($0.width) })
        r.set("resource-heights", array: all.map { UInt64($0.height) })
        r.set("resource-backed", array: all.map { UInt8($0.backing == nil ? 0 : 1) })
        r.set("resource-backing-entries", array: all.map { UInt64($0.backing?.entries.count ?? 0) })
        let entries = all.flatMap { $0.backing?.entries ?? [] }
        r.set("backing-addresses", array: entries.map(\.address))
        r.set("backing-lengths", array: entries.map(\.length))
        for resource in all { r.set("pixels-\(resource.id)", bytes: resource.image.withBytes { Array($0) }) }
        r.set("scanout-resources", array: scanouts.map(\.resourceID))
        r.set("scanout-rects", array: scanouts.flatMap { s in [s.rect.x, s.rect.y, s.rect.width, s.rect.height].map { UInt64($0) } })
        let cursors = scanouts.indices.map { surfaces[$0].cursor }
        r.set("cursor-shown", array: cursors.map { UInt8($0.image == nil ? 0 : 1) })
        r.set("cursor-positions", array: cursors.flatMap { c in
            [c.hotspotX, c.hotspotY, c.x, c.y].map { UInt64(bitPattern: Int64($0)) }
        })
        for (i, c) in cursors.enumerated() {
            if let image = c.image { r.set("cursor-\(i)-pixels", bytes: image.withBytes { Array($0) }) }
        }
    }

    /// Reads and checks `r`; `memory` is the running activation's guest memory (`nil` when the
    /// driver has not started the device, which then holds nothing).
    func loaded(from r: DeviceStateRecord, memory: (any GuestMemory)?) throws(DeviceStateError) -> Loaded {
        var out = Loaded()
        let ids = try r.unsignedArray("resource-ids", max: UInt64(UInt32.max))
        let n = ids.count
        guard n == 0 || memory != nil else {
            throw r.invalid("resource-ids", "\(n) resources", expected: "none for a device the driver has not started")
        }
        let formats = try r.unsignedArray("resource-formats", count: n, max: UInt64(UInt32.max))
        let widths = try r.unsignedArray("resource-widths", count: n, max: UInt64(PixelImage.maximumDimension))
        let heights = try r.unsignedArray("resource-heights", count: n, max: UInt64(PixelImage.maximumDimension))
        let backed = try r.unsignedArray("resource-backed", count: n, max: 1)
        let entryCounts = try r.unsignedArray("resource-backing-entries", count: n, max: UInt64(VirtioGPUProtocol.maximumBackingEntries))
        let entryTotal = Int(entryCounts.reduce(0, +))
        let addresses = try r.unsignedArray("backing-addresses", count: entryTotal)
        let lengths = try r.unsignedArray("backing-lengths", count: entryTotal, max: UInt64(UInt32.max))
        var nextEntry = 0
        for i in 0..<n {
            let id = UInt32(ids[i])
            guard id != 0, out.resources[id] == nil else {
                throw r.invalid("resource-ids", "resource \(id)", expected: "distinct ids other than 0")
            }
            guard let format = VirtioGPUFormat.pixelFormat(UInt32(formats[i])) else {
                throw r.invalid("resource-formats", "\(formats[i]) for resource \(id)", expected: "a VIRTIO_GPU_FORMAT_* this device knows")
            }
            let width = Int(widths[i]), height = Int(heights[i])
            guard width > 0, height > 0 else {
                throw r.invalid("resource-widths", "\(width)x\(height) for resource \(id)", expected: "a non-empty size")
            }
            let bytes = width * height * PixelFormat.bytesPerPixel
            out.hostMemory += bytes
            guard out.hostMemory < configuration.maxHostMemory else {
                throw r.invalid("resource-widths", "\(out.hostMemory) bytes of resources",
                                expected: "less than this device's host memory limit of \(configuration.maxHostMemory) bytes")
            }
            let image: PixelImage
            do { image = try PixelImage(width: width, height: height, format: format) } catch {
                throw r.invalid("resource-widths", "\(width)x\(height) for resource \(id)", expected: "an image the host can hold (\(error))")
            }
            let pixels = try r.bytes("pixels-\(id)", count: image.byteCount)
            image.withMutableBytes { $0.copyBytes(from: pixels) }
            var backing: GPUBacking?
            if backed[i] == 1 {
                var entries: [GuestBuffer] = []
                for _ in 0..<Int(entryCounts[i]) {
                    let address = addresses[nextEntry], length = UInt32(lengths[nextEntry])
                    nextEntry += 1
                    guard let memory, memory.contains(address, length: Int(length)) else {
                        throw r.invalid("backing-addresses", "\(length) bytes at 0x\(String(address, radix: 16)) for resource \(id)",
                                        expected: "entries inside guest RAM")
                    }
                    entries.append(GuestBuffer(address: address, length: length))
                }
                backing = GPUBacking(entries: entries)
            } else {
                guard entryCounts[i] == 0 else {
                    throw r.invalid("resource-backing-entries", "\(entryCounts[i]) for resource \(id)", expected: "0 for a resource without backing")
                }
            }
            out.resources[id] = GPUResource(id: id, format: UInt32(formats[i]), image: image, hostMemory: bytes, backing: backing)
        }

        let count = scanouts.count
        let shows = try r.unsignedArray("scanout-resources", count: count, max: UInt64(UInt32.max))
        let rects = try r.unsignedArray("scanout-rects", count: count * 4, max: UInt64(UInt32.max))
        for i in 0..<count {
            let id = UInt32(shows[i])
            guard id != 0 else {
                out.scanouts.append(GPUScanout())
                continue
            }
            let rect = GPURect(x: UInt32(rects[4 * i]), y: UInt32(rects[4 * i + 1]), width: UInt32(rects[4 * i + 2]), height: UInt32(rects[4 * i + 3]))
            guard let resource = out.resources[id] else {
                throw r.invalid("scanout-resources", "resource \(id) on scanout \(i)", expected: "a resource of the record")
            }
            let minimum = UInt32(VirtioGPUConfiguration.minimumScanoutSide)
            guard rect.width >= minimum, rect.height >= minimum, rect.fits(width: resource.width, height: resource.height) else {
                throw r.invalid("scanout-rects", "\(rect) on scanout \(i)", expected: "at least 16x16 inside resource \(id) (\(resource.width)x\(resource.height))")
            }
            let surfaceBytes = Int(rect.width) * Int(rect.height) * PixelFormat.bytesPerPixel
            out.hostMemory += surfaceBytes
            guard out.hostMemory < configuration.maxHostMemory else {
                throw r.invalid("scanout-rects", "\(out.hostMemory) bytes with scanout \(i)'s surface",
                                expected: "less than this device's host memory limit of \(configuration.maxHostMemory) bytes")
            }
            out.resources[id]?.scanouts.insert(i)
            out.scanouts.append(GPUScanout(resourceID: id, rect: rect.displayRect, surfaceBytes: surfaceBytes))
        }

        let shown = try r.unsignedArray("cursor-shown", count: count, max: 1)
        let positions = try r.unsignedArray("cursor-positions", count: count * 4)
        for i in 0..<count {
            let values = (0..<4).map { Int64(bitPattern: positions[4 * i + $0]) }
            guard values.allSatisfy({ (Int64(Int32.min)...Int64(Int32.max)).contains($0) }) else {
                throw r.invalid("cursor-positions", "\(values) for scanout \(i)", expected: "32-bit signed hotspot and position")
            }
            var image: PixelImage?
            if shown[i] == 1 {
                let side = Self.cursorSide
                do { image = try PixelImage(width: side, height: side, format: .a8r8g8b8) } catch {
                    throw r.invalid("cursor-shown", "scanout \(i)", expected: "a cursor image the host can hold (\(error))")
                }
                let pixels = try r.bytes("cursor-\(i)-pixels", count: image?.byteCount ?? 0)
                image?.withMutableBytes { $0.copyBytes(from: pixels) }
            }
            out.cursors.append(DisplayCursor(image: image, hotspotX: Int(values[0]), hotspotY: Int(values[1]), x: Int(values[2]), y: Int(values[3])))
        }
        return out
    }

    /// Replaces the state with `loaded`: resources, then each scanout's surface in its mode
    /// with the resource's pixels, then the cursors.
    mutating func apply(_ loaded: Loaded, from r: DeviceStateRecord) throws(DeviceStateError) {
        reset()
        for (i, s) in loaded.scanouts.enumerated() where s.resourceID != 0 {
            do { try surfaces[i].setMode(width: s.rect.width, height: s.rect.height) } catch {
                throw r.invalid("scanout-rects", "scanout \(i) \(s.rect)", expected: "a surface the host can hold (\(error))")
            }
            if let resource = loaded.resources[s.resourceID] { surfaces[i].draw(from: resource.image, rect: s.rect, toX: 0, y: 0) }
        }
        resources = loaded.resources
        scanouts = loaded.scanouts
        hostMemory = loaded.hostMemory
        for (i, cursor) in loaded.cursors.enumerated() { surfaces[i].setCursor(cursor) }
    }
}
