import DeviceModelTesting
import Testing
import Virtio
@testable import VirtioDevices
import VirtioTesting

typealias InputOnTransport = DeviceOnTransport<VirtioInputDevice>

/// The transports virtio-input is tested on: Linux's driver needs `VIRTIO_F_VERSION_1`, and
/// virtio-input has no transitional PCI ID, so the modern interfaces.
let inputTransports: [InputOnTransport.Kind] = [.mmio, .pciMSIX, .pciINTx]

/// What Linux's `virtinput_probe` learns from the configuration space, read in its order
/// and its way: write `select`, write `subsel`, read `size`, then read the union.
struct InputProbe {
    var name: String
    var serial: String
    /// bustype, vendor, product, version; `nil` when `size` was too small.
    var ids: [UInt16]?
    var properties: [UInt8]
    var autoRepeat: Bool
    /// Per event type, the bitmap as read (`size` bytes); absent when `size` was 0.
    var eventBits: [UInt16: [UInt8]]
    /// Per absolute axis: min, max, fuzz, flat, res.
    var axes: [UInt16: [Int32]]

    static let evKey: UInt16 = 0x01, evRel: UInt16 = 0x02, evAbs: UInt16 = 0x03, evMsc: UInt16 = 0x04
    static let evSw: UInt16 = 0x05, evLed: UInt16 = 0x11, evSnd: UInt16 = 0x12, evRep: UInt16 = 0x14

    /// Writes `select`/`subsel` and reads `size` (`virtinput_cfg_select`).
    static func select(_ driver: VirtioTestDriver, _ select: UInt8, _ subsel: UInt8) -> Int {
        driver.writeConfig(offset: 0, size: 1, value: UInt64(select))
        driver.writeConfig(offset: 1, size: 1, value: UInt64(subsel))
        return Int(driver.readConfig(offset: 2, size: 1))
    }

    static func run(_ driver: VirtioTestDriver) throws -> InputProbe {
        func string(_ sel: UInt8) throws -> String {
            let size = select(driver, sel, 0)
            let bytes = try driver.readConfigBytes(offset: 8, count: min(size, 64))
            return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
        func bits(_ sel: UInt8, _ subsel: UInt8) throws -> [UInt8]? {
            let size = select(driver, sel, subsel)
            guard size > 0 else { return nil }
            return try driver.readConfigBytes(offset: 8, count: size)
        }
        let name = try string(0x01)
        let serial = try string(0x02)
        var ids: [UInt16]?
        if select(driver, 0x03, 0) >= 8 {
            ids = (0..<4).map { UInt16(driver.readConfig(offset: 8 + 2 * $0, size: 2)) }
        }
        let properties = try bits(0x10, 0) ?? []
        let autoRepeat = select(driver, 0x11, UInt8(evRep)) > 0
        var eventBits: [UInt16: [UInt8]] = [:]
        for type in [evKey, evRel, evAbs, evMsc, evSw, evLed, evSnd] {
            if let b = try bits(0x11, UInt8(type)) { eventBits[type] = b }
        }
        var axes: [UInt16: [Int32]] = [:]
        if let absBits = eventBits[evAbs] {
            for axis in 0..<0x40 where isSet(absBits, axis) {
                _ = select(driver, 0x12, UInt8(axis))
                // Linux reads min, max, res, fuzz, flat; stored here in struct order.
                let field = { (i: Int) in Int32(bitPattern: UInt32(driver.readConfig(offset: 8 + 4 * i, size: 4))) }
                axes[UInt16(axis)] = [field(0), field(1), field(2), field(3), field(4)]
            }
        }
        return InputProbe(name: name, serial: serial, ids: ids, properties: properties, autoRepeat: autoRepeat,
                          eventBits: eventBits, axes: axes)
    }

    /// True when `bitmap` has bit `bit` (bit n of byte n/8).
    static func isSet(_ bitmap: [UInt8], _ bit: Int) -> Bool {
        bit / 8 < bitmap.count && bitmap[bit / 8] & (1 << (bit % 8)) != 0
    }

    func has(_ type: UInt16, _ code: Int) -> Bool { Self.isSet(eventBits[type] ?? [], code) }
}

/// The 8 bytes of one `virtio_input_event`, spelled out little-endian.
func inputRecord(_ type: UInt16, _ code: UInt16, _ value: Int32) -> [UInt8] {
    let v = UInt32(bitPattern: value)
    return [UInt8(type & 0xFF), UInt8(type >> 8), UInt8(code & 0xFF), UInt8(code >> 8),
            UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8(v >> 24)]
}

let synReportRecord = inputRecord(0, 0, 0)

extension DeviceOnTransport where Device == VirtioInputDevice {
    /// Brings the device up with both queues: (eventq, statusq).
    func startInput(size: UInt16? = nil) throws -> (VirtioTestQueue, VirtioTestQueue) {
        let q = try start(queues: [VirtioInputDevice.eventQueue, VirtioInputDevice.statusQueue], size: size)
        return (q[0], q[1])
    }

    /// Posts `count` 8-byte device-writable buffers on the eventq, as `virtinput_fill_evt` does, and kicks.
    func postEventBuffers(_ queue: VirtioTestQueue, count: Int) throws {
        for _ in 0..<count { try queue.submit(writable: [VirtioInputEvent.size]) }
        try driver.kick(queue)
    }

    /// Waits for `count` events and returns their bytes, checking each used length is 8.
    func receiveRecords(_ queue: VirtioTestQueue, count: Int) throws -> [[UInt8]] {
        let used = try driver.waitForUsed(queue, count: count)
        #expect(used.allSatisfy { $0.length == UInt32(VirtioInputEvent.size) }, "used lengths \(used.map(\.length))")
        return used.map(\.written)
    }

    /// Nothing more arrives on `queue` within a short grace period (the device delivers
    /// asynchronously, so "nothing" can only be checked after a wait).
    func expectNoMoreUsed(_ queue: VirtioTestQueue) {
        let late = (try? driver.waitForUsed(queue, count: 1, timeout: .milliseconds(50))) ?? []
        #expect(late.isEmpty, "unexpected events \(late.map(\.written))")
    }
}
