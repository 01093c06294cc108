import DeviceModel
import DeviceModelTesting
import Display
import Synchronization
import Testing
import Virtio
@testable import VirtioDevices
import VirtioTesting

@Suite("virtio-gpu through virtio-mmio and virtio-pci")
struct GPUTransportTests {
    typealias Kind = DeviceOnTransport<VirtioGPUDevice>.Kind

    @Test("Linux's modeset: display info, EDID, create, scattered backing, scanout, transfer, flush → pixels on the surface",
          arguments: GPUTestbed.kinds)
    func linuxSequence(kind: Kind) throws {
        let bed = try GPUTestbed(kind, configuration: .init(scanouts: [(320, 200)]))
        // GET_DISPLAY_INFO: the mode Linux will use.
        let info = try bed.send(GPUCommand.displayInfo(), responseSize: 408)
        #expect(info.type == GPUCommand.okDisplayInfo && info.length == 408)
        #expect(info.u32(24 + 8) == 320 && info.u32(24 + 12) == 200 && info.u32(24 + 16) == 1)
        #expect(info.u32(48 + 16) == 0)  // scanout 1 absent
        let width = Int(info.u32(32)), height = Int(info.u32(36))
        // GET_EDID.
        let edid = try bed.send(GPUCommand.edid(scanout: 0), responseSize: 1056)
        #expect(edid.type == GPUCommand.okEDID && edid.length == 1056)
        #expect(edid.u32(24) == 128)
        let block = Array(edid.bytes[32..<160])
        #expect(Array(block[0..<8]) == [0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0])
        #expect(block.reduce(0) { ($0 + Int($1)) & 0xFF } == 0)
        #expect(Int(block[56]) | Int(block[58] >> 4) << 8 == width)
        // Framebuffer: create, attach a multi-entry scatter list, scanout.
        let picture = gpuTestPattern(width: width, height: height)
        let pages = try bed.makeResource(1, width: width, height: height, pixels: picture)
        #expect(pages.count == 63)  // 256000 bytes over scattered pages
        #expect(try bed.status(GPUCommand.setScanout(id: 1, GPUCommand.rect(0, 0, UInt32(width), UInt32(height)))) == GPUCommand.okNoData)
        #expect(bed.display.primary.size?.width == width)
        // Nothing transferred yet: black.
        #expect(bed.display.primary.snapshot()?.pixel(x: 10, y: 10).map { $0 & 0xFFFFFF } == 0)
        #expect(try bed.status(GPUCommand.transfer(id: 1, GPUCommand.rect(0, 0, UInt32(width), UInt32(height)))) == GPUCommand.okNoData)
        #expect(try bed.status(GPUCommand.flush(id: 1, GPUCommand.rect(0, 0, UInt32(width), UInt32(height)))) == GPUCommand.okNoData)
        let shot = try #require(bed.display.primary.snapshot())
        #expect(shot.width == width && shot.height == height)
        for (x, y) in [(0, 0), (1, 0), (0, 1), (319, 199), (100, 150), (255, 3)] {
            #expect(shot.pixel(x: x, y: y).map { $0 & 0xFFFFFF } == gpuTestPixel(x: x, y: y), "pixel (\(x), \(y))")
        }
        // A damage update as fbdev does it: a sub-rectangle at its offset in the backing.
        let seed: UInt8 = 0xC3
        try bed.write(gpuTestPattern(width: width, height: height, seed: seed), into: pages)
        let offset = UInt64(20 * width * 4 + 30 * 4)
        #expect(try bed.status(GPUCommand.transfer(id: 1, GPUCommand.rect(30, 20, 40, 10), offset: offset)) == GPUCommand.okNoData)
        #expect(try bed.status(GPUCommand.flush(id: 1, GPUCommand.rect(30, 20, 40, 10))) == GPUCommand.okNoData)
        let after = try #require(bed.display.primary.snapshot())
        #expect(after.pixel(x: 30, y: 20).map { $0 & 0xFFFFFF } == gpuTestPixel(x: 30, y: 20, seed: seed))
        #expect(after.pixel(x: 69, y: 29).map { $0 & 0xFFFFFF } == gpuTestPixel(x: 69, y: 29, seed: seed))
        #expect(after.pixel(x: 70, y: 29).map { $0 & 0xFFFFFF } == gpuTestPixel(x: 70, y: 29))
        #expect(after.pixel(x: 30, y: 30).map { $0 & 0xFFFFFF } == gpuTestPixel(x: 30, y: 30))
        #expect(try bed.driver.waitForInterrupt().usedBuffers)
        #expect(bed.fixture.needsResetReason == nil)
    }

    @Test("a scanout showing part of a resource: flushes land translated by the scanout's origin")
    func scanoutOrigin() throws {
        let bed = try GPUTestbed(configuration: .init(scanouts: [(64, 64), (64, 64)]))
        let pages = try bed.makeResource(7, width: 128, height: 64, pixels: gpuTestPattern(width: 128, height: 64))
        #expect(try bed.status(GPUCommand.transfer(id: 7, GPUCommand.rect(0, 0, 128, 64))) == GPUCommand.okNoData)
        #expect(try bed.status(GPUCommand.setScanout(scanout: 0, id: 7, GPUCommand.rect(0, 0, 64, 64))) == GPUCommand.okNoData)
        #expect(try bed.status(GPUCommand.setScanout(scanout: 1, id: 7, GPUCommand.rect(64, 0, 64, 64))) == GPUCommand.okNoData)
        // SET_SCANOUT shows the resource's current pixels.
        #expect(bed.display.surfaces[1].snapshot()?.pixel(x: 0, y: 0).map { $0 & 0xFFFFFF } == gpuTestPixel(x: 64, y: 0))
        // New pixels everywhere, but only a rectangle across both halves is flushed.
        try bed.write(gpuTestPattern(width: 128, height: 64, seed: 0x11), into: pages)
        #expect(try bed.status(GPUCommand.transfer(id: 7, GPUCommand.rect(0, 0, 128, 64))) == GPUCommand.okNoData)
        let damage = Mutex<[DisplaySurfaceChange]>([])
        let token = bed.display.surfaces[1].addObserver { change in damage.withLock { $0.append(change) } }
        defer { bed.display.surfaces[1].removeObserver(token) }
        #expect(try bed.status(GPUCommand.flush(id: 7, GPUCommand.rect(60, 10, 10, 5))) == GPUCommand.okNoData)
        #expect(damage.withLock { $0 } == [.damaged(DisplayRect(x: 0, y: 10, width: 6, height: 5))])
        let left = try #require(bed.display.surfaces[0].snapshot()), right = try #require(bed.display.surfaces[1].snapshot())
        #expect(left.pixel(x: 63, y: 10).map { $0 & 0xFFFFFF } == gpuTestPixel(x: 63, y: 10, seed: 0x11))
        #expect(left.pixel(x: 59, y: 10).map { $0 & 0xFFFFFF } == gpuTestPixel(x: 59, y: 10))
        #expect(right.pixel(x: 5, y: 14).map { $0 & 0xFFFFFF } == gpuTestPixel(x: 69, y: 14, seed: 0x11))
        #expect(right.pixel(x: 6, y: 14).map { $0 & 0xFFFFFF } == gpuTestPixel(x: 70, y: 14))
    }

    @Test("every 2D format shows its colour: QEMU's little-endian table end to end")
    func formats() throws {
        let bed = try GPUTestbed(configuration: .init(scanouts: [(16, 16)]))
        // R = 0x11, G = 0x22, B = 0x33, alpha/X = 0xFF, in each format's memory byte order.
        let layouts: [(UInt32, [UInt8])] = [
            (1, [0x33, 0x22, 0x11, 0xFF]), (2, [0x33, 0x22, 0x11, 0xFF]),   // B8G8R8A8, B8G8R8X8
            (3, [0xFF, 0x11, 0x22, 0x33]), (4, [0xFF, 0x11, 0x22, 0x33]),   // A8R8G8B8, X8R8G8B8
            (67, [0x11, 0x22, 0x33, 0xFF]), (68, [0xFF, 0x33, 0x22, 0x11]), // R8G8B8A8, X8B8G8R8
            (121, [0xFF, 0x33, 0x22, 0x11]), (134, [0x11, 0x22, 0x33, 0xFF]), // A8B8G8R8, R8G8B8X8
        ]
        for (i, (format, pixel)) in layouts.enumerated() {
            let id = UInt32(10 + i)
            _ = try bed.makeResource(id, width: 16, height: 16, format: format,
                                     pixels: Array([[UInt8]](repeating: pixel, count: 256).joined()))
            #expect(try bed.status(GPUCommand.transfer(id: id, GPUCommand.rect(0, 0, 16, 16))) == GPUCommand.okNoData)
            #expect(try bed.status(GPUCommand.setScanout(id: id, GPUCommand.rect(0, 0, 16, 16))) == GPUCommand.okNoData)
            let shown = bed.display.primary.snapshot()?.pixel(x: 3, y: 5).map { $0 & 0xFFFFFF }
            #expect(shown == 0x112233, "format \(format): 0x\(String(shown ?? 0, radix: 16))")
        }
    }

    @Test("cursor queue: UPDATE_CURSOR sets image and hotspot, MOVE_CURSOR moves, resource 0 hides",
          arguments: GPUTestbed.kinds)
    func cursor(kind: Kind) throws {
        let bed = try GPUTestbed(kind)
        var argb = [UInt8]()
        for y in 0..<64 { for x in 0..<64 { argb += [UInt8(x), UInt8(y), 0x80, 0xFF] } }  // B, G, R, A
        _ = try bed.makeResource(99, width: 64, height: 64, format: GPUCommand.formatB8G8R8A8, pixels: argb)
        #expect(try bed.status(GPUCommand.transfer(id: 99, GPUCommand.rect(0, 0, 64, 64))) == GPUCommand.okNoData)
        try bed.sendCursor(GPUCommand.cursor(GPUCommand.updateCursorType, x: 100, y: 200, id: 99, hotX: 5, hotY: 7))
        var c = bed.display.primary.cursor
        let image = try #require(c.image)
        #expect(image.width == 64 && image.height == 64 && image.format == .a8r8g8b8)
        #expect(image.pixel(x: 10, y: 20) == 0xFF80_140A)
        #expect(c.hotspotX == 5 && c.hotspotY == 7 && c.x == 100 && c.y == 200)
        try bed.sendCursor(GPUCommand.cursor(GPUCommand.moveCursorType, x: -3, y: 40))
        c = bed.display.primary.cursor
        #expect(c.x == -3 && c.y == 40 && c.image != nil && c.hotspotX == 5)
        // Not 64×64: the old image stays (QEMU); unknown scanout: ignored; short: ignored.
        _ = try bed.makeResource(98, width: 32, height: 32)
        try bed.sendCursor(GPUCommand.cursor(GPUCommand.updateCursorType, x: 1, y: 2, id: 98))
        #expect(bed.display.primary.cursor.image?.pixel(x: 10, y: 20) == 0xFF80_140A)
        try bed.sendCursor(GPUCommand.cursor(GPUCommand.moveCursorType, scanout: 5, x: 9, y: 9))
        try bed.sendCursor(Array(GPUCommand.cursor(GPUCommand.moveCursorType, x: 9, y: 9).prefix(40)))
        #expect(bed.display.primary.cursor.x == 1)
        try bed.sendCursor(GPUCommand.cursor(GPUCommand.updateCursorType, x: 0, y: 0, id: 0))
        #expect(bed.display.primary.cursor.image == nil)
        #expect(bed.fixture.needsResetReason == nil)
    }

    @Test("fences: a fenced request's response carries the flag, fence_id and ctx_id; others carry none",
          arguments: GPUTestbed.kinds)
    func fences(kind: Kind) throws {
        let bed = try GPUTestbed(kind)
        var request = GPUCommand.header(GPUCommand.create2DType, flags: 1, fence: 0x1234_5678_9ABC_DEF0, context: 7)
        request += GPUCommand.le(5) + GPUCommand.le(2) + GPUCommand.le(64) + GPUCommand.le(64)
        let r = try bed.send(request)
        #expect(r.type == GPUCommand.okNoData && r.flags == 1 && r.fenceID == 0x1234_5678_9ABC_DEF0 && r.contextID == 7)
        // Errors are fenced too.
        let e = try bed.send(request)
        #expect(e.type == GPUCommand.errInvalidResourceID && e.flags == 1 && e.fenceID == 0x1234_5678_9ABC_DEF0)
        let info = try bed.send(GPUCommand.header(GPUCommand.getDisplayInfo, flags: 1, fence: 42), responseSize: 408)
        #expect(info.type == GPUCommand.okDisplayInfo && info.flags == 1 && info.fenceID == 42)
        let plain = try bed.send(GPUCommand.unref(id: 5))
        #expect(plain.type == GPUCommand.okNoData && plain.flags == 0 && plain.fenceID == 0 && plain.contextID == 0)
    }

    @Test("unref and device reset free host memory and turn scanouts off")
    func accountingAndReset() throws {
        let bed = try GPUTestbed(configuration: .init(scanouts: [(1920, 1080)]))
        // A 1920×1080 framebuffer: the resource, then the surface its scanout keeps.
        #expect(try bed.status(GPUCommand.create2D(id: 1, width: 1920, height: 1080)) == GPUCommand.okNoData)
        let resourceBytes = bed.device.hostMemoryInUse
        #expect(resourceBytes == 1920 * 1080 * 4)
        // Backing: any guest RAM will do for accounting (one entry over the first 8 MiB).
        #expect(try bed.status(GPUCommand.attachBacking(id: 1, entries: [(0, UInt32(1920 * 1080 * 4))])) == GPUCommand.okNoData)
        #expect(try bed.status(GPUCommand.setScanout(id: 1, GPUCommand.rect(0, 0, 1920, 1080))) == GPUCommand.okNoData)
        let scanoutBytes = bed.device.hostMemoryInUse
        #expect(scanoutBytes == 2 * 1920 * 1080 * 4)
        print("GPU: a 1920x1080 scanout costs \(resourceBytes) bytes of resource + \(scanoutBytes - resourceBytes) bytes of surface = \(scanoutBytes) bytes")
        // Unref turns the scanout off and frees both.
        #expect(try bed.status(GPUCommand.unref(id: 1)) == GPUCommand.okNoData)
        #expect(bed.device.hostMemoryInUse == 0 && bed.device.resourceCount == 0)
        #expect(!bed.display.primary.isActive)
        // Reset drops everything the guest left.
        _ = try bed.makeResource(2, width: 64, height: 64)
        #expect(try bed.status(GPUCommand.setScanout(id: 2, GPUCommand.rect(0, 0, 64, 64))) == GPUCommand.okNoData)
        #expect(bed.display.primary.isActive && bed.device.resourceCount == 1)
        try bed.driver.reset()
        #expect(bed.device.resourceCount == 0 && bed.device.hostMemoryInUse == 0)
        #expect(!bed.display.primary.isActive)
        // And the device works again after the driver restarts it (id 2 is free again).
        try bed.start()
        _ = try bed.makeResource(2, width: 64, height: 64)
        #expect(bed.device.resourceCount == 1)
    }

    @Test("full-frame 1920x1080 update (transfer + flush) through a 4 KiB scatter list: timing")
    func fullFrameTiming() throws {
        let bed = try GPUTestbed(configuration: .init(scanouts: [(1920, 1080)]))
        let bytes = 1920 * 1080 * 4
        let region = try bed.machine.allocator.allocate(bytes, alignment: 4096)
        let pages = stride(from: 0, to: bytes, by: 4096).map { (address: region.address + UInt64($0), length: UInt32(min(4096, bytes - $0))) }
        try bed.write(gpuTestPattern(width: 1920, height: 1080), into: pages)
        #expect(try bed.status(GPUCommand.create2D(id: 1, width: 1920, height: 1080)) == GPUCommand.okNoData)
        let table = GPUCommand.attachBacking(id: 1, entries: pages)
        #expect(try bed.send(Array(table[0..<32]), extra: [Array(table[32...])]).type == GPUCommand.okNoData)
        #expect(try bed.status(GPUCommand.setScanout(id: 1, GPUCommand.rect(0, 0, 1920, 1080))) == GPUCommand.okNoData)
        let clock = ContinuousClock()
        let rounds = 20
        var start = clock.now
        for _ in 0..<rounds {
            #expect(try bed.status(GPUCommand.transfer(id: 1, GPUCommand.rect(0, 0, 1920, 1080))) == GPUCommand.okNoData)
            #expect(try bed.status(GPUCommand.flush(id: 1, GPUCommand.rect(0, 0, 1920, 1080))) == GPUCommand.okNoData)
        }
        let elapsed = clock.now - start
        // A narrow rectangle takes the row-by-row path.
        start = clock.now
        for _ in 0..<rounds {
            #expect(try bed.status(GPUCommand.transfer(id: 1, GPUCommand.rect(8, 0, 1900, 1080), offset: 32)) == GPUCommand.okNoData)
        }
        let narrow = clock.now - start
        print("BENCH: virtio-gpu 1920x1080 frame over \(pages.count) scatter entries: transfer+flush \(elapsed / rounds) per frame; row-wise transfer \(narrow / rounds)")
        let shot = try #require(bed.display.primary.snapshot())
        #expect(shot.pixel(x: 1919, y: 1079).map { $0 & 0xFFFFFF } == gpuTestPixel(x: 1919, y: 1079))
    }
}
