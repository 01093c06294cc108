import DeviceModelTesting
import Display
import Testing
import Virtio
@testable import VirtioDevices
import VirtioTesting

/// The configuration space as Linux's `virtinput_probe` reads it, through each transport.
@Suite("virtio-input configuration space")
struct InputConfigSpaceTests {
    static let cases: [(InputDeviceKind, InputOnTransport.Kind)] =
        InputDeviceKind.allCases.flatMap { k in [InputOnTransport.Kind.mmio, .pciMSIX].map { (k, $0) } }

    @Test("identity: device type 18, two queues, no device features, 136-byte configuration space")
    func identity() throws {
        let device = try VirtioInputDevice(configuration: .init(kind: .keyboard))
        #expect(device.deviceType == .input)
        #expect(device.deviceType.rawValue == 18)
        #expect(device.queueMaxSizes == [64, 64])
        #expect(device.offeredFeatures & 0xFFFF_FF == 0)
        #expect(device.offeredFeatures & VirtioFeature.version1 != 0)
        #expect(device.readConfig().count == 136)
        #expect(device.inputKind == .keyboard)
    }

    @Test("Linux's probe sequence sees QEMU's identity and event bits", arguments: cases)
    func probe(kind: InputDeviceKind, transport: InputOnTransport.Kind) throws {
        let f = try InputOnTransport(transport, device: try VirtioInputDevice(configuration: .init(kind: kind)))
        let p = try InputProbe.run(f.driver)
        #expect(p.name == "swiftdm virtio \(kind)")
        #expect(p.serial == "")
        #expect(p.properties.isEmpty)
        let product: UInt16 = switch kind { case .keyboard: 1; case .mouse: 2; case .tablet: 3 }
        #expect(p.ids == [0x06, 0x0627, product, 1])
        // Nothing this device never sends.
        #expect(p.eventBits[InputProbe.evMsc] == nil)
        #expect(p.eventBits[InputProbe.evSw] == nil)
        #expect(p.eventBits[InputProbe.evSnd] == nil)

        switch kind {
        case .keyboard:
            #expect(p.autoRepeat)
            // KEY_A = 30, KEY_ESC = 1, KEY_LEFTMETA = 125, KEY_F24 = 194, KEY_MEDIA = 226.
            for key in [1, 30, 28, 42, 57, 103, 125, 194, 226] { #expect(p.has(InputProbe.evKey, key), "KEY \(key)") }
            // KEY_RESERVED, KEY_ZENKAKUHANKAKU (85, not in QEMU's table), BTN_LEFT.
            for key in [0, 85, 0x110] { #expect(!p.has(InputProbe.evKey, key), "KEY \(key)") }
            #expect(p.eventBits[InputProbe.evKey]?.count == 29)
            #expect(p.eventBits[InputProbe.evLed] == [0b111])
            #expect(p.eventBits[InputProbe.evRel] == nil)
            #expect(p.eventBits[InputProbe.evAbs] == nil)
            #expect(p.axes.isEmpty)
        case .mouse:
            #expect(!p.autoRepeat)
            for button in 0x110...0x114 { #expect(p.has(InputProbe.evKey, button), "BTN 0x\(String(button, radix: 16))") }
            #expect(!p.has(InputProbe.evKey, 30))
            #expect(!p.has(InputProbe.evKey, 0x115))
            // REL_X, REL_Y, REL_WHEEL (8).
            #expect(p.eventBits[InputProbe.evRel] == [0b11, 0b1])
            #expect(p.eventBits[InputProbe.evAbs] == nil)
            #expect(p.eventBits[InputProbe.evLed] == nil)
        case .tablet:
            #expect(!p.autoRepeat)
            for button in 0x110...0x114 { #expect(p.has(InputProbe.evKey, button), "BTN 0x\(String(button, radix: 16))") }
            #expect(p.eventBits[InputProbe.evAbs] == [0b11])
            // The wheel only: REL_WHEEL, no REL_X/REL_Y.
            #expect(p.eventBits[InputProbe.evRel] == [0, 0b1])
            #expect(p.axes == [0: [0, 32767, 0, 0, 0], 1: [0, 32767, 0, 0, 0]])
            #expect(p.eventBits[InputProbe.evLed] == nil)
        }
    }

    @Test("name and serial overrides reach the driver", arguments: [InputOnTransport.Kind.mmio, .pciMSIX])
    func overrides(transport: InputOnTransport.Kind) throws {
        let config = VirtioInputConfiguration(kind: .tablet, name: "VNC tablet", serial: "tablet-0")
        let f = try InputOnTransport(transport, device: try VirtioInputDevice(configuration: config))
        let p = try InputProbe.run(f.driver)
        #expect(p.name == "VNC tablet")
        #expect(p.serial == "tablet-0")
        #expect(InputProbe.select(f.driver, 0x02, 0) == 8)
    }

    @Test("unsupported selections answer size 0 with a zeroed union; select and subsel read back")
    func unsupported() throws {
        let f = try InputOnTransport(.pciMSIX, device: try VirtioInputDevice(configuration: .init(kind: .tablet)))
        let unsupported: [(UInt8, UInt8)] = [
            (0x00, 0), (0x01, 1), (0x03, 7), (0x10, 0), (0x11, 0x11), (0x11, 0x14), (0x11, 0xFF),
            (0x12, 2), (0x12, 0x2F), (0x13, 0), (0x42, 1), (0xFF, 0xFF),
        ]
        for (select, subsel) in unsupported {
            #expect(InputProbe.select(f.driver, select, subsel) == 0, "select 0x\(String(select, radix: 16)) subsel \(subsel)")
            #expect(try f.driver.readConfigBytes(offset: 8, count: 128) == Array(repeating: 0, count: 128))
            #expect(f.driver.readConfig(offset: 0, size: 2) == UInt64(select) | UInt64(subsel) << 8)
        }
        // A two-byte write sets both; size and the union ignore writes.
        f.driver.writeConfig(offset: 0, size: 2, value: 0x0012)
        #expect(f.driver.readConfig(offset: 2, size: 1) == 20)
        f.driver.writeConfig(offset: 2, size: 4, value: 0xFFFF_FFFF)
        f.driver.writeConfig(offset: 8, size: 4, value: 0xFFFF_FFFF)
        #expect(f.driver.readConfig(offset: 2, size: 1) == 20)
        #expect(f.driver.readConfig(offset: 12, size: 4) == 32767)
        #expect(f.driver.readConfig(offset: 8, size: 4) == 0)
    }

    @Test("a device reset clears the selection")
    func resetClearsSelection() throws {
        let f = try InputOnTransport(.mmio, device: try VirtioInputDevice(configuration: .init(kind: .keyboard)))
        #expect(InputProbe.select(f.driver, 0x01, 0) == "swiftdm virtio keyboard".utf8.count)
        try f.driver.reset()
        #expect(f.driver.readConfig(offset: 0, size: 4) == 0)
    }

    @Test("invalid configurations are refused with the offending value")
    func invalidConfiguration() {
        #expect(throws: VirtioInputError.invalidQueueSize(100)) {
            _ = try VirtioInputDevice(configuration: .init(kind: .mouse, queueSize: 100))
        }
        #expect(throws: VirtioInputError.invalidQueueSize(0)) {
            _ = try VirtioInputDevice(configuration: .init(kind: .mouse, queueSize: 0))
        }
        #expect(throws: VirtioInputError.invalidBacklogLimit(1)) {
            _ = try VirtioInputDevice(configuration: .init(kind: .mouse, backlogLimit: 1))
        }
        let long = String(repeating: "k", count: 64)
        #expect(throws: VirtioInputError.invalidString(field: "name", value: long, reason: "is 64 bytes, more than 63")) {
            _ = try VirtioInputDevice(configuration: .init(kind: .keyboard, name: long))
        }
        #expect(throws: VirtioInputError.invalidString(field: "serial", value: "", reason: "is empty")) {
            _ = try VirtioInputDevice(configuration: .init(kind: .keyboard, serial: ""))
        }
        #expect(throws: VirtioInputError.invalidString(field: "serial", value: "a\0b", reason: "contains a NUL byte")) {
            _ = try VirtioInputDevice(configuration: .init(kind: .keyboard, serial: "a\0b"))
        }
        let longest = String(repeating: "k", count: 63)
        #expect(throws: Never.self) { _ = try VirtioInputDevice(configuration: .init(kind: .keyboard, name: longest)) }
    }
}
