import DeviceModel
import DeviceModelTesting
import Display
import Logging
import Synchronization
import Testing
import Virtio
@testable import VirtioDevices
import VirtioTesting

/// A virtio-gpu on a real transport, driven through its registers with requests laid out
/// as Linux's `virtio_gpu_vq.c` makes them: one readable command buffer (plus the mem entry
/// table for ATTACH_BACKING) and one writable response buffer.
final class GPUTestbed {
    let fixture: DeviceOnTransport<VirtioGPUDevice>
    let display: GuestDisplay
    let log: GPULogRecorder
    private(set) var control: VirtioTestQueue!
    private(set) var cursor: VirtioTestQueue!

    var device: VirtioGPUDevice { fixture.device }
    var driver: VirtioTestDriver { fixture.driver }
    var machine: SimulatedMachine { fixture.machine }

    static let kinds: [DeviceOnTransport<VirtioGPUDevice>.Kind] = [.mmio, .pciMSIX]

    init(_ kind: DeviceOnTransport<VirtioGPUDevice>.Kind = .pciMSIX, configuration: VirtioGPUConfiguration = .init()) throws {
        display = GuestDisplay(scanouts: configuration.scanouts.count)
        let log = GPULogRecorder()
        self.log = log
        let logger = Logger(label: "test.virtio-gpu") { _ in GPULogHandler(recorder: log) }
        fixture = try DeviceOnTransport(kind, device: try VirtioGPUDevice(configuration: configuration, display: display, logger: logger))
        try start()
    }

    /// (Re)starts the device as a driver does: reset, features, both queues, DRIVER_OK.
    func start() throws {
        let queues = try fixture.start(queues: [0, 1])
        control = queues[0]
        cursor = queues[1]
    }

    // MARK: Sending

    /// Sends `request` on the control queue with a `responseSize`-byte response buffer
    /// and returns the response.
    @discardableResult
    func send(_ request: [UInt8], responseSize: Int = 24, extra: [[UInt8]] = []) throws -> GPUTestResponse {
        try control.submit(readable: [request] + extra, writable: [responseSize])
        try driver.kick(control)
        let used = try driver.waitForUsed(control)
        return GPUTestResponse(length: Int(used[0].length), bytes: used[0].written)
    }

    /// Sends `request` and returns only the response type.
    func status(_ request: [UInt8], responseSize: Int = 24) throws -> UInt32 {
        try send(request, responseSize: responseSize).type
    }

    /// Sends a cursor command; the chain comes back with nothing written.
    func sendCursor(_ request: [UInt8]) throws {
        try cursor.submit(readable: [request])
        try driver.kick(cursor)
        let used = try driver.waitForUsed(cursor)
        #expect(used[0].length == 0)
    }

    // MARK: Guest memory

    /// Guest pages for a backing: `pages` 4 KiB pages, allocated one apart so the scatter
    /// list has one entry per page (as a shmem GEM object's would).
    func scatteredPages(_ pages: Int) throws -> [(address: UInt64, length: UInt32)] {
        var out: [(UInt64, UInt32)] = []
        for _ in 0..<pages {
            let page = try machine.allocator.allocate(4096, alignment: 4096)
            _ = try machine.allocator.allocate(4096, alignment: 4096)  // a hole
            out.append((page.address, 4096))
        }
        return out
    }

    /// Writes `bytes` across `entries` as one stream.
    func write(_ bytes: [UInt8], into entries: [(address: UInt64, length: UInt32)]) throws {
        var done = 0
        for e in entries where done < bytes.count {
            let n = min(Int(e.length), bytes.count - done)
            try machine.memory.writeBytes(bytes[done..<done + n], at: e.address)
            done += n
        }
    }

    /// Creates a `width × height` resource with backing holding `pixels` (4 bytes each),
    /// scattered over pages.
    func makeResource(_ id: UInt32, width: Int, height: Int, format: UInt32 = GPUCommand.formatB8G8R8X8,
                      pixels: [UInt8]? = nil) throws -> [(address: UInt64, length: UInt32)] {
        #expect(try status(GPUCommand.create2D(id: id, format: format, width: UInt32(width), height: UInt32(height))) == GPUCommand.okNoData)
        let bytes = width * height * 4
        let pages = try scatteredPages((bytes + 4095) / 4096)
        if let pixels { try write(pixels, into: pages) }
        #expect(try status(GPUCommand.attachBacking(id: id, entries: pages)) == GPUCommand.okNoData)
        return pages
    }
}

/// A control queue response.
struct GPUTestResponse {
    let length: Int
    let bytes: [UInt8]

    func u32(_ offset: Int) -> UInt32 {
        guard offset + 4 <= bytes.count else { return 0xDEAD_BEEF }
        return (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) }
    }
    func u64(_ offset: Int) -> UInt64 { UInt64(u32(offset)) | UInt64(u32(offset + 4)) << 32 }

    var type: UInt32 { u32(0) }
    var flags: UInt32 { u32(4) }
    var fenceID: UInt64 { u64(8) }
    var contextID: UInt32 { u32(16) }
}

/// Requests as the Linux driver encodes them (`include/uapi/linux/virtio_gpu.h`).
enum GPUCommand {
    static let getDisplayInfo: UInt32 = 0x100, create2DType: UInt32 = 0x101, unrefType: UInt32 = 0x102
    static let setScanoutType: UInt32 = 0x103, flushType: UInt32 = 0x104, transferType: UInt32 = 0x105
    static let attachType: UInt32 = 0x106, detachType: UInt32 = 0x107, getEDIDType: UInt32 = 0x10A
    static let updateCursorType: UInt32 = 0x300, moveCursorType: UInt32 = 0x301

    static let okNoData: UInt32 = 0x1100, okDisplayInfo: UInt32 = 0x1101, okEDID: UInt32 = 0x1104
    static let errUnspec: UInt32 = 0x1200, errOutOfMemory: UInt32 = 0x1201, errInvalidScanoutID: UInt32 = 0x1202
    static let errInvalidResourceID: UInt32 = 0x1203, errInvalidParameter: UInt32 = 0x1205

    static let formatB8G8R8A8: UInt32 = 1, formatB8G8R8X8: UInt32 = 2

    static func header(_ type: UInt32, flags: UInt32 = 0, fence: UInt64 = 0, context: UInt32 = 0) -> [UInt8] {
        le(type) + le(flags) + le(UInt32(truncatingIfNeeded: fence)) + le(UInt32(truncatingIfNeeded: fence >> 32)) + le(context) + le(0)
    }
    static func le(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    static func le64(_ v: UInt64) -> [UInt8] { le(UInt32(truncatingIfNeeded: v)) + le(UInt32(truncatingIfNeeded: v >> 32)) }
    static func rect(_ x: UInt32, _ y: UInt32, _ w: UInt32, _ h: UInt32) -> [UInt8] { le(x) + le(y) + le(w) + le(h) }

    static func displayInfo() -> [UInt8] { header(getDisplayInfo) }
    static func edid(scanout: UInt32) -> [UInt8] { header(getEDIDType) + le(scanout) + le(0) }
    static func create2D(id: UInt32, format: UInt32 = formatB8G8R8X8, width: UInt32, height: UInt32) -> [UInt8] {
        header(create2DType) + le(id) + le(format) + le(width) + le(height)
    }
    static func unref(id: UInt32) -> [UInt8] { header(unrefType) + le(id) + le(0) }
    static func attachBacking(id: UInt32, entries: [(address: UInt64, length: UInt32)], count: UInt32? = nil) -> [UInt8] {
        header(attachType) + le(id) + le(count ?? UInt32(entries.count))
            + entries.flatMap { le64($0.address) + le($0.length) + le(0) }
    }
    static func detachBacking(id: UInt32) -> [UInt8] { header(detachType) + le(id) + le(0) }
    static func setScanout(scanout: UInt32 = 0, id: UInt32, _ r: [UInt8]) -> [UInt8] {
        header(setScanoutType) + r + le(scanout) + le(id)
    }
    static func flush(id: UInt32, _ r: [UInt8]) -> [UInt8] { header(flushType) + r + le(id) + le(0) }
    static func transfer(id: UInt32, _ r: [UInt8], offset: UInt64 = 0) -> [UInt8] {
        header(transferType) + r + le64(offset) + le(id) + le(0)
    }
    static func cursor(_ type: UInt32, scanout: UInt32 = 0, x: Int32, y: Int32, id: UInt32 = 0, hotX: UInt32 = 0, hotY: UInt32 = 0) -> [UInt8] {
        header(type) + le(scanout) + le(UInt32(bitPattern: x)) + le(UInt32(bitPattern: y)) + le(0)
            + le(id) + le(hotX) + le(hotY) + le(0)
    }
}

/// Messages the device logged, for tests that check what an operator would read.
final class GPULogRecorder: Sendable {
    let messages = Mutex<[(Logger.Level, String)]>([])
    func contains(level: Logger.Level, _ text: String) -> Bool {
        messages.withLock { $0.contains { $0.0 == level && $0.1.contains(text) } }
    }
}

struct GPULogHandler: LogHandler {
    let recorder: GPULogRecorder
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        recorder.messages.withLock { $0.append((event.level, event.message.description)) }
    }
}

/// A `width × height` picture in B8G8R8X8 (memory B, G, R, X) whose pixel (x, y) has
/// R = x, G = y, B = seed: every pixel tells where it came from.
func gpuTestPattern(width: Int, height: Int, seed: UInt8 = 0x5A) -> [UInt8] {
    var out = [UInt8]()
    out.reserveCapacity(width * height * 4)
    for y in 0..<height {
        for x in 0..<width { out += [seed, UInt8(truncatingIfNeeded: y), UInt8(truncatingIfNeeded: x), 0] }
    }
    return out
}

/// The x8r8g8b8 value (without X) `gpuTestPattern` puts at (x, y).
func gpuTestPixel(x: Int, y: Int, seed: UInt8 = 0x5A) -> UInt32 {
    UInt32(UInt8(truncatingIfNeeded: x)) << 16 | UInt32(UInt8(truncatingIfNeeded: y)) << 8 | UInt32(seed)
}
