import DeviceModel
import DeviceModelTesting
import Display
import Testing
import Virtio
@testable import VirtioDevices
import VirtioTesting

/// virtio-gpu's saved state: resources (pixels and guest-physical backing), scanouts and
/// cursors carried to a freshly built machine, which shows the same picture and goes on
/// drawing from the restored RAM; damaged records refused with the field they got wrong.
@Suite("virtio-gpu device state")
struct GPUDeviceStateTests {
    typealias Fixture = DeviceOnTransport<VirtioGPUDevice>

    /// A guest that shows a 64×32 resource on scanout 0 (its picture transferred, then its
    /// backing changed without a transfer, so host pixels and guest pages differ) and a 64×64
    /// cursor, and has a flush of the resource queued but not yet notified.
    static func drawingGuest(_ kind: Fixture.Kind) throws -> (GPUTestbed, backing: [(address: UInt64, length: UInt32)]) {
        let a = try GPUTestbed(kind)
        let backing = try a.makeResource(1, width: 64, height: 32, pixels: gpuTestPattern(width: 64, height: 32))
        #expect(try a.status(GPUCommand.transfer(id: 1, GPUCommand.rect(0, 0, 64, 32))) == GPUCommand.okNoData)
        #expect(try a.status(GPUCommand.setScanout(id: 1, GPUCommand.rect(0, 0, 64, 32))) == GPUCommand.okNoData)
        try a.write(gpuTestPattern(width: 64, height: 32, seed: 0x11), into: backing)
        _ = try a.makeResource(2, width: 64, height: 64, format: GPUCommand.formatB8G8R8A8, pixels: [UInt8](repeating: 0x80, count: 64 * 64 * 4))
        #expect(try a.status(GPUCommand.transfer(id: 2, GPUCommand.rect(0, 0, 64, 64))) == GPUCommand.okNoData)
        try a.sendCursor(GPUCommand.cursor(GPUCommand.updateCursorType, x: 10, y: -3, id: 2, hotX: 4, hotY: 5))
        try a.control.submit(readable: [GPUCommand.flush(id: 1, GPUCommand.rect(0, 0, 64, 32))], writable: [24])
        return (a, backing)
    }

    static func fresh(_ kind: Fixture.Kind) throws -> (Fixture, GuestDisplay) {
        let display = GuestDisplay(scanouts: 1)
        return (try Fixture(kind, device: try VirtioGPUDevice(display: display)), display)
    }

    @Test("resources, scanout and cursor move to a new machine, which goes on drawing", arguments: GPUTestbed.kinds)
    func moveToANewMachine(kind: Fixture.Kind) throws {
        let (a, backing) = try Self.drawingGuest(kind)
        let (b, display) = try Self.fresh(kind)
        let hostMemory = a.device.hostMemoryInUse
        #expect(hostMemory == (64 * 32 + 64 * 64 + 64 * 32) * 4, "two resources and the scanout's surface")
        let move = try DeviceMove(from: a.fixture, to: b)
        #expect(b.device.resourceCount == 2)
        #expect(b.device.hostMemoryInUse == hostMemory)
        let shown = try #require(display.surfaces[0].snapshot())
        #expect(shown.width == 64 && shown.height == 32)
        #expect(shown.pixel(x: 5, y: 7).map { $0 & 0xFF_FFFF } == gpuTestPixel(x: 5, y: 7), "the transferred picture, not the changed pages")
        let cursor = display.surfaces[0].cursor
        #expect(cursor.image?.pixel(x: 3, y: 3) == 0x8080_8080)
        #expect((cursor.hotspotX, cursor.hotspotY, cursor.x, cursor.y) == (4, 5, 10, -3))

        // The flush queued before the snapshot is served against the restored resource.
        try move.notify(a.control)
        let queued = try move.waitForUsed(a.control)
        #expect(GPUTestResponse(length: Int(queued[0].length), bytes: queued[0].written).type == GPUCommand.okNoData)
        // A transfer reads the restored RAM through the restored backing.
        try a.control.submit(readable: [GPUCommand.transfer(id: 1, GPUCommand.rect(0, 0, 64, 32))], writable: [24])
        try a.control.submit(readable: [GPUCommand.flush(id: 1, GPUCommand.rect(0, 0, 64, 32))], writable: [24])
        try move.notify(a.control)
        let replies = try move.waitForUsed(a.control, count: 2)
        #expect(replies.allSatisfy { GPUTestResponse(length: Int($0.length), bytes: $0.written).type == GPUCommand.okNoData })
        #expect(display.surfaces[0].snapshot()?.pixel(x: 5, y: 7).map { $0 & 0xFF_FFFF } == gpuTestPixel(x: 5, y: 7, seed: 0x11))
        _ = backing
    }

    @Test("saved, stopped and resumed in place: the picture stays and queued commands are served once")
    func inPlace() throws {
        let (a, _) = try Self.drawingGuest(.pciMSIX)
        _ = a.device.saveState(id: "device")
        a.driver.notify(a.control)
        #expect((try? a.driver.waitForUsed(a.control, timeout: .milliseconds(100))) == nil, "a saved device takes no command until it stops")
        #expect(a.fixture.attachment.pci?.quiesce() == true)
        #expect(a.display.surfaces[0].snapshot() == nil, "stopped: every scanout off")
        a.fixture.attachment.pci?.resume()
        let used = try a.driver.waitForUsed(a.control)
        #expect(GPUTestResponse(length: Int(used[0].length), bytes: used[0].written).type == GPUCommand.okNoData)
        #expect(a.device.resourceCount == 2)
        #expect(a.display.surfaces[0].snapshot()?.pixel(x: 5, y: 7).map { $0 & 0xFF_FFFF } == gpuTestPixel(x: 5, y: 7))
    }

    @Test("damaged or foreign records are refused with the field, and the device is unchanged")
    func refusals() throws {
        let (a, _) = try Self.drawingGuest(.mmio)
        let good = DeviceMove<VirtioGPUDevice>.save(a.fixture).last!
        let (b, display) = try Self.fresh(.mmio)
        _ = try b.start(queues: [0, 1])
        let pixels = try good.bytes("pixels-1")
        let cases: [(DeviceStateRecord, String)] = [
            (good.with("scanout-count", .unsigned(2)), "scanout-count"),
            (good.with("events-read", .unsigned(0x80)), "events-read"),
            (good.with("resource-ids", .unsignedArray([1, 1])), "resource-ids"),
            (good.with("resource-ids", .unsignedArray([0, 2])), "resource-ids"),
            (good.with("resource-formats", .unsignedArray([2, 99])), "resource-formats"),
            (good.with("resource-widths", .unsignedArray([64, 20_000])), "resource-widths"),
            (good.with("resource-widths", .unsignedArray([0, 64])), "resource-widths"),
            (good.with("resource-heights", .unsignedArray([16384, 16384])), "pixels-1"),   // the pixels do not fill it
            (good.with("resource-widths", .unsignedArray([16384, 16384])).with("resource-heights", .unsignedArray([16384, 16384])),
             "host memory limit"),
            (good.with("pixels-1", .bytes(Array(pixels.dropLast()))), "pixels-1"),
            (good.with("backing-addresses", .unsignedArray((try good.unsignedArray("backing-addresses")).map { _ in UInt64(1) << 40 })), "backing-addresses"),
            (good.with("resource-backing-entries", .unsignedArray([1_000_000, 0])), "resource-backing-entries"),
            (good.with("resource-backed", .unsignedArray([0, 1])), "resource-backing-entries"),
            (good.with("scanout-resources", .unsignedArray([7])), "scanout-resources"),
            (good.with("scanout-rects", .unsignedArray([60, 0, 16, 16])), "scanout-rects"),
            (good.with("scanout-rects", .unsignedArray([0, 0, 8, 8])), "scanout-rects"),
            (good.with("cursor-positions", .unsignedArray([0, 0, 1 << 40, 0])), "cursor-positions"),
            (good.with("cursor-0-pixels", .bytes([1, 2, 3])), "cursor-0-pixels"),
            (good.with("resource-ids", .bytes([1])), "resource-ids"),
        ]
        DeviceStateMutationTests.expectRefusals(cases, { try b.device.restoreState($0) }) { field in
            #expect(b.device.resourceCount == 0 && display.surfaces[0].snapshot() == nil, "\(field) left state behind")
        }
        // A device the driver has not started holds no resources.
        let (c, _) = try Self.fresh(.mmio)
        #expect(throws: DeviceStateError.self) { try c.device.restoreState(good) }
        // The good record loads.
        try b.device.restoreState(good)
        #expect(b.device.resourceCount == 2)
    }
}
