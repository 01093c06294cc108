import DeviceModel
import DeviceModelTesting
import Display
import Testing
import Virtio
@testable import VirtioDevices
import VirtioTesting

/// A hostile driver: every bad request gets QEMU's error response (or, with no room for one,
/// DEVICE_NEEDS_RESET), nothing is read outside guest RAM or a resource, and the device
/// keeps working afterwards.
@Suite("virtio-gpu hostile driver")
struct GPUHostileDriverTests {
    typealias C = GPUCommand

    /// After a bad request: a normal round trip still works.
    func stillWorks(_ bed: GPUTestbed, _ note: Comment? = nil) throws {
        let info = try bed.send(C.displayInfo(), responseSize: 408)
        #expect(info.type == C.okDisplayInfo, note)
        #expect(bed.fixture.needsResetReason == nil, note)
    }

    @Test("short requests and short response buffers: ERR_UNSPEC", arguments: GPUTestbed.kinds)
    func shortRequests(kind: DeviceOnTransport<VirtioGPUDevice>.Kind) throws {
        let bed = try GPUTestbed(kind)
        // Shorter than the header.
        #expect(try bed.status(Array(C.displayInfo().prefix(8))) == C.errUnspec)
        #expect(try bed.status([]) == C.errUnspec)
        // Shorter than each command's struct.
        let full: [[UInt8]] = [
            C.edid(scanout: 0), C.create2D(id: 1, width: 64, height: 64), C.unref(id: 1),
            C.setScanout(id: 1, C.rect(0, 0, 64, 64)), C.flush(id: 1, C.rect(0, 0, 1, 1)),
            C.transfer(id: 1, C.rect(0, 0, 1, 1)), C.attachBacking(id: 1, entries: []), C.detachBacking(id: 1),
        ]
        for request in full {
            let r = try bed.send(Array(request.dropLast(1)))
            #expect(r.type == C.errUnspec, "type 0x\(String(request[0], radix: 16)) one byte short")
        }
        #expect(bed.device.resourceCount == 0)
        // A request split over several readable buffers is read as one stream.
        let create = C.create2D(id: 3, width: 16, height: 16)
        #expect(try bed.send(Array(create[0..<10]), extra: [Array(create[10..<33]), Array(create[33...])]).type == C.okNoData)
        // The response does not fit (GET_DISPLAY_INFO needs 408, GET_EDID 1056): an error header does.
        let info = try bed.send(C.displayInfo(), responseSize: 100)
        #expect(info.type == C.errUnspec && info.length == 24)
        #expect(try bed.send(C.edid(scanout: 0), responseSize: 1055).type == C.errUnspec)
        // Unknown commands, including 3D ones this device does not offer.
        for type: UInt32 in [0, 0x108, 0x109, 0x200, 0x300, 0x1100, 0xFFFF_FFFF] {
            #expect(try bed.status(C.header(type) + [UInt8](repeating: 0, count: 32)) == C.errUnspec)
        }
        try stillWorks(bed)
    }

    enum NoRoom: String, CaseIterable, CustomStringConvertible {
        case noWritableBuffer, smallerThanHeader
        var description: String { rawValue }
    }

    @Test("no room for even a response header: DEVICE_NEEDS_RESET with the reason; a reset recovers",
          arguments: NoRoom.allCases)
    func noRoomForHeader(fault: NoRoom) throws {
        let bed = try GPUTestbed()
        switch fault {
        case .noWritableBuffer: try bed.control.submit(readable: [C.displayInfo()])
        case .smallerThanHeader: try bed.control.submit(readable: [C.displayInfo()], writable: [23])
        }
        bed.driver.notify(bed.control)
        try bed.driver.waitForStatus(VirtioTestSpec.Status.deviceNeedsReset)
        guard case .device(.malformedRequest(let queue, _, let reason)) = bed.fixture.needsResetReason else {
            Issue.record("reason \(String(describing: bed.fixture.needsResetReason))")
            return
        }
        #expect(queue == 0)
        #expect(reason.contains("24-byte response header"))
        try bed.start()
        try stillWorks(bed)
    }

    @Test("RESOURCE_CREATE_2D: id 0, duplicate id, unknown format, empty, huge and overflowing sizes")
    func createErrors() throws {
        let bed = try GPUTestbed()
        #expect(try bed.status(C.create2D(id: 0, width: 64, height: 64)) == C.errInvalidResourceID)
        #expect(try bed.status(C.create2D(id: 1, width: 64, height: 64)) == C.okNoData)
        #expect(try bed.status(C.create2D(id: 1, width: 32, height: 32)) == C.errInvalidResourceID)
        #expect(try bed.status(C.create2D(id: 2, format: 5, width: 64, height: 64)) == C.errInvalidParameter)
        #expect(try bed.status(C.create2D(id: 2, format: 0, width: 64, height: 64)) == C.errInvalidParameter)
        #expect(try bed.status(C.create2D(id: 2, width: 0, height: 64)) == C.errInvalidParameter)
        #expect(try bed.status(C.create2D(id: 2, width: 64, height: 0)) == C.errInvalidParameter)
        // width × height × 4 overflows 32 bits (and would be 64 EiB): out of memory, not a wrap.
        #expect(try bed.status(C.create2D(id: 2, width: 0xFFFF_FFFF, height: 0xFFFF_FFFF)) == C.errOutOfMemory)
        #expect(try bed.status(C.create2D(id: 2, width: 0x4000_0000, height: 4)) == C.errOutOfMemory)
        // Small in bytes but a side over pixman's 16384.
        #expect(try bed.status(C.create2D(id: 2, width: 20000, height: 1)) == C.errOutOfMemory)
        #expect(bed.device.resourceCount == 1)
        #expect(bed.device.hostMemoryInUse == 64 * 64 * 4)
        try stillWorks(bed)
    }

    @Test("host memory limit: resources past maxHostMemory get ERR_OUT_OF_MEMORY and a log line naming the limit; unref frees")
    func hostMemoryLimit() throws {
        let limit = 1 << 20
        let bed = try GPUTestbed(configuration: .init(maxHostMemory: limit))
        // 256 KiB each: three fit, the fourth would reach the limit (QEMU's check is strict).
        for id: UInt32 in 1...3 { #expect(try bed.status(C.create2D(id: id, width: 256, height: 256)) == C.okNoData) }
        #expect(try bed.status(C.create2D(id: 4, width: 256, height: 256)) == C.errOutOfMemory)
        #expect(bed.log.contains(level: .warning, "host memory limit of \(limit) bytes"))
        #expect(bed.device.hostMemoryInUse == 3 * 256 * 256 * 4)
        // A guest looping on it cannot flood the log: later refusals are debug.
        #expect(try bed.status(C.create2D(id: 4, width: 256, height: 256)) == C.errOutOfMemory)
        #expect(bed.log.messages.withLock { $0.filter { $0.0 == .warning }.count } == 1)
        #expect(try bed.status(C.unref(id: 2)) == C.okNoData)
        #expect(try bed.status(C.create2D(id: 4, width: 256, height: 256)) == C.okNoData)
        // A scanout's surface counts too: 160000 bytes more than the 102144 left.
        #expect(try bed.status(C.create2D(id: 5, width: 200, height: 200)) == C.okNoData)
        #expect(try bed.status(C.attachBacking(id: 5, entries: [(0, 200 * 200 * 4)])) == C.okNoData)
        #expect(try bed.status(C.setScanout(id: 5, C.rect(0, 0, 200, 200))) == C.errOutOfMemory)
        #expect(bed.log.contains(level: .debug, "the surface of scanout 0 at 200x200"))
        #expect(!bed.display.primary.isActive)
        #expect(bed.device.hostMemoryInUse < limit)
        try stillWorks(bed)
    }

    @Test("unknown resource ids: every command answers ERR_INVALID_RESOURCE_ID")
    func unknownResources() throws {
        let bed = try GPUTestbed()
        let page = try bed.scatteredPages(1)
        for request in [C.unref(id: 9), C.attachBacking(id: 9, entries: page), C.detachBacking(id: 9),
                        C.setScanout(id: 9, C.rect(0, 0, 64, 64)), C.flush(id: 9, C.rect(0, 0, 1, 1)),
                        C.transfer(id: 9, C.rect(0, 0, 1, 1)), C.unref(id: 0)] {
            #expect(try bed.status(request) == C.errInvalidResourceID)
        }
        // The cursor queue has no response: an unknown resource leaves the cursor alone.
        try bed.sendCursor(C.cursor(C.updateCursorType, x: 1, y: 1, id: 9))
        #expect(bed.display.primary.cursor.image == nil)
        try stillWorks(bed)
    }

    @Test("rectangles outside the resource: transfer, flush and scanout answer ERR_INVALID_PARAMETER; bad scanout ids")
    func rectangles() throws {
        let bed = try GPUTestbed(configuration: .init(scanouts: [(64, 64)]))
        _ = try bed.makeResource(1, width: 64, height: 32)
        let bad: [[UInt8]] = [
            C.rect(1, 0, 64, 32), C.rect(0, 1, 64, 32), C.rect(65, 0, 0, 0), C.rect(0, 33, 0, 0),
            C.rect(0, 0, 65, 1), C.rect(0, 0, 1, 33),
            // Sums that wrap in 32 bits.
            C.rect(0xFFFF_FFF0, 0, 0x20, 1), C.rect(0, 0xFFFF_FFFF, 1, 2), C.rect(0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF),
        ]
        for r in bad {
            #expect(try bed.status(C.transfer(id: 1, r)) == C.errInvalidParameter)
            #expect(try bed.status(C.flush(id: 1, r)) == C.errInvalidParameter)
            #expect(try bed.status(C.setScanout(id: 1, r)) == C.errInvalidParameter)
        }
        // Scanouts under 16×16 are refused (QEMU).
        #expect(try bed.status(C.setScanout(id: 1, C.rect(0, 0, 15, 32))) == C.errInvalidParameter)
        #expect(try bed.status(C.setScanout(id: 1, C.rect(0, 0, 64, 15))) == C.errInvalidParameter)
        #expect(try bed.status(C.setScanout(scanout: 1, id: 1, C.rect(0, 0, 64, 32))) == C.errInvalidScanoutID)
        #expect(try bed.status(C.setScanout(scanout: 0xFFFF_FFFF, id: 0, C.rect(0, 0, 0, 0))) == C.errInvalidScanoutID)
        #expect(try bed.status(C.edid(scanout: 1)) == C.errInvalidParameter)
        #expect(!bed.display.primary.isActive)
        // Edges are fine; an empty rectangle is a no-op.
        #expect(try bed.status(C.transfer(id: 1, C.rect(63, 31, 1, 1), offset: UInt64(31 * 256 + 63 * 4))) == C.okNoData)
        #expect(try bed.status(C.transfer(id: 1, C.rect(64, 32, 0, 0))) == C.okNoData)
        #expect(try bed.status(C.flush(id: 1, C.rect(0, 0, 64, 32))) == C.okNoData)
        #expect(try bed.status(C.setScanout(id: 1, C.rect(48, 16, 16, 16))) == C.okNoData)
        #expect(bed.display.primary.size?.width == 16)
        // Resource 0 turns the scanout off.
        #expect(try bed.status(C.setScanout(id: 0, C.rect(0, 0, 0, 0))) == C.okNoData)
        #expect(!bed.display.primary.isActive)
        try stillWorks(bed)
    }

    @Test("backing: none, too small for the transfer, offsets past its end; never read beyond it")
    func backingTooSmall() throws {
        let bed = try GPUTestbed()
        #expect(try bed.status(C.create2D(id: 1, width: 64, height: 64)) == C.okNoData)
        // No backing yet: transfer, scanout and detach answer ERR_UNSPEC (QEMU's "no backing storage").
        #expect(try bed.status(C.transfer(id: 1, C.rect(0, 0, 64, 64))) == C.errUnspec)
        #expect(try bed.status(C.setScanout(id: 1, C.rect(0, 0, 64, 64))) == C.errUnspec)
        #expect(try bed.status(C.detachBacking(id: 1)) == C.errUnspec)
        // One page of backing (16 rows of 256 bytes) for a 16 KiB image.
        let page = try bed.scatteredPages(1)
        try bed.write([UInt8](repeating: 0x77, count: 4096), into: page)
        #expect(try bed.status(C.attachBacking(id: 1, entries: page)) == C.okNoData)
        #expect(try bed.status(C.attachBacking(id: 1, entries: page)) == C.errUnspec)  // already attached
        #expect(try bed.status(C.transfer(id: 1, C.rect(0, 0, 64, 64))) == C.errInvalidParameter)
        #expect(try bed.status(C.transfer(id: 1, C.rect(0, 0, 64, 17))) == C.errInvalidParameter)
        #expect(try bed.status(C.transfer(id: 1, C.rect(0, 4, 64, 13), offset: 4 * 256)) == C.errInvalidParameter)
        // Rows of a narrow rectangle: 3 strides and 32 bytes from the offset.
        #expect(try bed.status(C.transfer(id: 1, C.rect(8, 0, 8, 4), offset: 4096 - 800 + 1)) == C.errInvalidParameter)
        #expect(try bed.status(C.transfer(id: 1, C.rect(0, 0, 64, 1), offset: 4096 - 255)) == C.errInvalidParameter)
        #expect(try bed.status(C.transfer(id: 1, C.rect(0, 0, 1, 1), offset: UInt64.max)) == C.errInvalidParameter)
        #expect(try bed.status(C.transfer(id: 1, C.rect(0, 0, 1, 1), offset: 1 << 63)) == C.errInvalidParameter)
        // What fits is copied: four whole rows; rows of a narrow rectangle ending exactly at the end.
        #expect(try bed.status(C.transfer(id: 1, C.rect(0, 0, 64, 4))) == C.okNoData)
        #expect(try bed.status(C.transfer(id: 1, C.rect(8, 0, 8, 4), offset: 4096 - 800)) == C.okNoData)
        #expect(try bed.status(C.transfer(id: 1, C.rect(0, 0, 64, 16))) == C.okNoData)
        #expect(try bed.status(C.transfer(id: 1, C.rect(0, 0, 1, 1), offset: 4092)) == C.okNoData)
        // Detach, then the transfer has no backing again.
        #expect(try bed.status(C.detachBacking(id: 1)) == C.okNoData)
        #expect(try bed.status(C.transfer(id: 1, C.rect(0, 0, 1, 1))) == C.errUnspec)
        try stillWorks(bed)
    }

    @Test("scatter lists: entries outside RAM or wrapping, huge or lying nr_entries: ERR_UNSPEC, nothing attached",
          arguments: GPUTestbed.kinds)
    func scatterLists(kind: DeviceOnTransport<VirtioGPUDevice>.Kind) throws {
        let bed = try GPUTestbed(kind)
        #expect(try bed.status(C.create2D(id: 1, width: 16, height: 16)) == C.okNoData)
        let ram = DeviceOnTransport<VirtioGPUDevice>.ramSize
        let good = try bed.scatteredPages(1)[0]
        let bad: [[(address: UInt64, length: UInt32)]] = [
            [(ram, 4096)],                          // just past RAM
            [(ram - 4096, 8192)],                   // straddles the end
            [good, (0x1_0000_0000, 4096)],          // a good entry, then one far away
            [(UInt64.max - 4095, 8192)],            // address + length wraps
            [(UInt64.max, 0xFFFF_FFFF)],
        ]
        for entries in bad {
            #expect(try bed.status(C.attachBacking(id: 1, entries: entries)) == C.errUnspec)
        }
        // nr_entries beyond QEMU's 16384, and a count the request does not hold.
        #expect(try bed.status(C.attachBacking(id: 1, entries: [good], count: 16385)) == C.errUnspec)
        #expect(try bed.status(C.attachBacking(id: 1, entries: [good], count: 0xFFFF_FFFF)) == C.errUnspec)
        #expect(try bed.status(C.attachBacking(id: 1, entries: [good], count: 2)) == C.errUnspec)
        #expect(try bed.status(C.attachBacking(id: 1, entries: [good], count: 16384)) == C.errUnspec)
        // Nothing was attached by any of them.
        #expect(try bed.status(C.transfer(id: 1, C.rect(0, 0, 16, 16))) == C.errUnspec)
        // Exactly 16384 entries are accepted (one 16-byte entry each, zero-length ones included).
        let many = [(address: UInt64, length: UInt32)](repeating: (good.address, 0), count: 16383) + [good]
        let table = C.attachBacking(id: 1, entries: many)
        #expect(try bed.send(Array(table[0..<32]), extra: [Array(table[32...])]).type == C.okNoData)
        #expect(try bed.status(C.transfer(id: 1, C.rect(0, 0, 16, 16))) == C.okNoData)
        try stillWorks(bed)
    }
}
