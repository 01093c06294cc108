import DeviceModelTesting
import Display
import Testing
import Virtio
@testable import VirtioDevices
import VirtioTesting

/// Events from outputs to the guest through the eventq, and LEDs back through the statusq.
@Suite("virtio-input events")
struct InputEventTests {
    @Test("a key press arrives as EV_KEY then SYN_REPORT, one 8-byte record per buffer", arguments: inputTransports)
    func keyboard(transport: InputOnTransport.Kind) throws {
        let f = try InputOnTransport(transport, device: try VirtioInputDevice(configuration: .init(kind: .keyboard)))
        let (eventq, _) = try f.startInput()
        try f.postEventBuffers(eventq, count: 8)
        f.device.receive([.key(code: 30, pressed: true)])
        // EV_KEY (1), KEY_A (30), value 1, little-endian.
        #expect(try f.receiveRecords(eventq, count: 2) == [[1, 0, 30, 0, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0]])
        f.device.receive([.key(code: 30, pressed: false), .key(code: 42, pressed: true)])
        #expect(try f.receiveRecords(eventq, count: 3) == [inputRecord(1, 30, 0), inputRecord(1, 42, 1), synReportRecord])
        #expect(try f.driver.waitForInterrupt().usedBuffers)
    }

    @Test("a keyboard ignores pointer events and keys QEMU does not advertise", arguments: [InputOnTransport.Kind.mmio, .pciMSIX])
    func keyboardIgnores(transport: InputOnTransport.Kind) throws {
        let f = try InputOnTransport(transport, device: try VirtioInputDevice(configuration: .init(kind: .keyboard)))
        let (eventq, _) = try f.startInput()
        try f.postEventBuffers(eventq, count: 8)
        f.device.receive([.button(.left, pressed: true), .absolute(x: 5, y: 5), .relative(dx: 1, dy: 1), .wheel(steps: 1)])
        f.device.receive([.key(code: 85, pressed: true), .key(code: 0x2FF, pressed: true)])
        f.device.receive([.key(code: 28, pressed: true), .button(.left, pressed: false)])
        #expect(try f.receiveRecords(eventq, count: 2) == [inputRecord(1, 28, 1), synReportRecord])
        f.expectNoMoreUsed(eventq)
    }

    @Test("tablet: position as EV_ABS X then Y (clamped to 0...32767), buttons as EV_KEY, wheel as REL_WHEEL", arguments: inputTransports)
    func tablet(transport: InputOnTransport.Kind) throws {
        let f = try InputOnTransport(transport, device: try VirtioInputDevice(configuration: .init(kind: .tablet)))
        let (eventq, _) = try f.startInput()
        try f.postEventBuffers(eventq, count: 16)
        f.device.receive([.absolute(x: 100, y: 40000), .button(.left, pressed: true), .wheel(steps: -1)])
        #expect(try f.receiveRecords(eventq, count: 5) == [
            inputRecord(3, 0, 100), inputRecord(3, 1, 32767), inputRecord(1, 0x110, 1),
            [2, 0, 8, 0, 0xFF, 0xFF, 0xFF, 0xFF], synReportRecord,
        ])
        // Relative motion and keys are not a tablet's.
        f.device.receive([.relative(dx: 3, dy: 4), .key(code: 30, pressed: true)])
        f.device.receive([.absolute(x: -7, y: 32767), .button(.extra, pressed: false)])
        #expect(try f.receiveRecords(eventq, count: 4) == [
            inputRecord(3, 0, 0), inputRecord(3, 1, 32767), inputRecord(1, 0x114, 0), synReportRecord,
        ])
        f.expectNoMoreUsed(eventq)
    }

    @Test("mouse: motion as EV_REL X and Y, buttons as EV_KEY, wheel as REL_WHEEL", arguments: inputTransports)
    func mouse(transport: InputOnTransport.Kind) throws {
        let f = try InputOnTransport(transport, device: try VirtioInputDevice(configuration: .init(kind: .mouse)))
        let (eventq, _) = try f.startInput()
        try f.postEventBuffers(eventq, count: 16)
        f.device.receive([.relative(dx: -5, dy: 7), .button(.right, pressed: true), .wheel(steps: 2)])
        #expect(try f.receiveRecords(eventq, count: 5) == [
            [2, 0, 0, 0, 0xFB, 0xFF, 0xFF, 0xFF], inputRecord(2, 1, 7), inputRecord(1, 0x111, 1),
            inputRecord(2, 8, 2), synReportRecord,
        ])
        // A zero axis is left out (Linux ignores it); absolute positions are not a mouse's.
        f.device.receive([.absolute(x: 1, y: 1)])
        f.device.receive([.relative(dx: 0, dy: -1), .button(.middle, pressed: false)])
        #expect(try f.receiveRecords(eventq, count: 3) == [inputRecord(2, 1, -1), inputRecord(1, 0x112, 0), synReportRecord])
        f.expectNoMoreUsed(eventq)
    }

    @Test("events before the driver posts buffers wait and are delivered when it does", arguments: inputTransports)
    func deliveredLater(transport: InputOnTransport.Kind) throws {
        let f = try InputOnTransport(transport, device: try VirtioInputDevice(configuration: .init(kind: .keyboard)))
        let (eventq, _) = try f.startInput()
        for code: UInt16 in [16, 17, 18] { f.device.receive([.key(code: code, pressed: true)]) }
        #expect(waitUntil { f.device.backlogCount == 6 })
        // Fewer buffers than events: the rest waits for the next buffers and their kick.
        try f.postEventBuffers(eventq, count: 4)
        #expect(try f.receiveRecords(eventq, count: 4) == [inputRecord(1, 16, 1), synReportRecord, inputRecord(1, 17, 1), synReportRecord])
        f.expectNoMoreUsed(eventq)
        #expect(f.device.backlogCount == 2)
        try f.postEventBuffers(eventq, count: 4)
        #expect(try f.receiveRecords(eventq, count: 2) == [inputRecord(1, 18, 1), synReportRecord])
        #expect(f.device.backlogCount == 0)
        // The two spare buffers take the next report at once.
        f.device.receive([.key(code: 19, pressed: false)])
        #expect(try f.receiveRecords(eventq, count: 2) == [inputRecord(1, 19, 0), synReportRecord])
    }

    @Test("events while no driver has activated the device are dropped")
    func droppedBeforeActivation() throws {
        let f = try InputOnTransport(.pciMSIX, device: try VirtioInputDevice(configuration: .init(kind: .keyboard)))
        f.device.receive([.key(code: 30, pressed: true)])
        #expect(f.device.backlogCount == 0)
        let (eventq, _) = try f.startInput()
        try f.postEventBuffers(eventq, count: 4)
        f.expectNoMoreUsed(eventq)
        f.device.receive([.key(code: 31, pressed: true)])
        #expect(try f.receiveRecords(eventq, count: 2) == [inputRecord(1, 31, 1), synReportRecord])
    }

    @Test("backlog overflow drops the oldest whole reports and stays within its limit", arguments: [InputOnTransport.Kind.mmio, .pciMSIX])
    func overflow(transport: InputOnTransport.Kind) throws {
        let f = try InputOnTransport(transport, device: try VirtioInputDevice(configuration: .init(kind: .keyboard, backlogLimit: 8)))
        let (eventq, _) = try f.startInput()
        for code: UInt16 in 2...11 {
            f.device.receive([.key(code: code, pressed: true)])
            #expect(f.device.backlogCount <= 8)
        }
        for _ in 0..<1000 { f.device.receive([.key(code: 30, pressed: true), .key(code: 30, pressed: false)]) }
        #expect(f.device.backlogCount <= 8)
        for code: UInt16 in 8...11 { f.device.receive([.key(code: code, pressed: false)]) }
        #expect(f.device.backlogCount == 8)
        try f.postEventBuffers(eventq, count: 16)
        let records = try f.receiveRecords(eventq, count: 8)
        #expect(records == (8...11).flatMap { [inputRecord(1, UInt16($0), 0), synReportRecord] })
        f.expectNoMoreUsed(eventq)
    }

    @Test("a report too long for the backlog is dropped whole")
    func oversizedReport() throws {
        let f = try InputOnTransport(.mmio, device: try VirtioInputDevice(configuration: .init(kind: .keyboard, backlogLimit: 4)))
        let (eventq, _) = try f.startInput()
        try f.postEventBuffers(eventq, count: 8)
        f.device.receive((2...5).map { .key(code: $0, pressed: true) })
        f.device.receive([.key(code: 6, pressed: true)])
        #expect(try f.receiveRecords(eventq, count: 2) == [inputRecord(1, 6, 1), synReportRecord])
        f.expectNoMoreUsed(eventq)
    }

    @Test("a device reset drops the backlog")
    func resetDropsBacklog() throws {
        let f = try InputOnTransport(.pciMSIX, device: try VirtioInputDevice(configuration: .init(kind: .mouse)))
        _ = try f.startInput()
        f.device.receive([.relative(dx: 1, dy: 1)])
        #expect(f.device.backlogCount == 3)
        try f.driver.reset()
        #expect(f.device.backlogCount == 0)
        let (eventq, _) = try f.startInput()
        try f.postEventBuffers(eventq, count: 4)
        f.expectNoMoreUsed(eventq)
    }

    @Test("the statusq records the keyboard LEDs the guest sets and returns every buffer", arguments: inputTransports)
    func leds(transport: InputOnTransport.Kind) throws {
        let f = try InputOnTransport(transport, device: try VirtioInputDevice(configuration: .init(kind: .keyboard)))
        let (_, statusq) = try f.startInput()
        #expect(f.device.ledState == [])
        // EV_LED (0x11) LED_CAPSL (1) on, as Linux's virtinput_status sends it.
        try statusq.submit(readable: [[0x11, 0, 1, 0, 1, 0, 0, 0]])
        try f.driver.kick(statusq)
        #expect(try f.driver.waitForUsed(statusq).map(\.length) == [0])
        #expect(f.device.ledState == [.capsLock])
        // Several records in one chain, split over two buffers; unknown LEDs and types ignored.
        try statusq.submit(readable: [inputRecord(0x11, 0, 1) + inputRecord(0x11, 2, 1), inputRecord(0x11, 1, 0)
                                      + inputRecord(0x11, 3, 1) + inputRecord(0x12, 1, 1) + inputRecord(0, 0, 0)])
        try f.driver.kick(statusq)
        #expect(try f.driver.waitForUsed(statusq).map(\.length) == [0])
        #expect(f.device.ledState == [.numLock, .scrollLock])
        try f.driver.reset()
        #expect(f.device.ledState == [])
    }

    @Test("a mouse ignores LED writes")
    func mouseIgnoresLEDs() throws {
        let f = try InputOnTransport(.mmio, device: try VirtioInputDevice(configuration: .init(kind: .mouse)))
        let (_, statusq) = try f.startInput()
        try statusq.submit(readable: [inputRecord(0x11, 1, 1)])
        try f.driver.kick(statusq)
        _ = try f.driver.waitForUsed(statusq)
        #expect(f.device.ledState == [])
    }

    @Test("attached to an InputRouter, each device gets its kind's events")
    func router() throws {
        let keyboard = try InputOnTransport(.mmio, device: try VirtioInputDevice(configuration: .init(kind: .keyboard)))
        let tablet = try InputOnTransport(.pciMSIX, device: try VirtioInputDevice(configuration: .init(kind: .tablet)))
        let (kq, _) = try keyboard.startInput()
        let (tq, _) = try tablet.startInput()
        try keyboard.postEventBuffers(kq, count: 8)
        try tablet.postEventBuffers(tq, count: 8)
        let router = InputRouter()
        router.attach(keyboard.device)
        router.attach(tablet.device)
        router.send([.key(code: 57, pressed: true)])
        router.send([InputEvent.absolute(pixelX: 639, pixelY: 0, width: 640, height: 480), .button(.left, pressed: true)])
        #expect(try keyboard.receiveRecords(kq, count: 2) == [inputRecord(1, 57, 1), synReportRecord])
        #expect(try tablet.receiveRecords(tq, count: 4) == [inputRecord(3, 0, 32767), inputRecord(3, 1, 0), inputRecord(1, 0x110, 1), synReportRecord])
        keyboard.expectNoMoreUsed(kq)
        tablet.expectNoMoreUsed(tq)
    }
}
