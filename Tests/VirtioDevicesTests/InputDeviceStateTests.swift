import DeviceModel
import DeviceModelTesting
import Display
import Testing
import Virtio
@testable import VirtioDevices
import VirtioTesting

/// virtio-input's saved state: events owed to the guest, its LEDs and its configuration
/// selection carried to a freshly built machine and delivered there once; damaged records
/// refused with the field they got wrong.
@Suite("virtio-input device state")
struct InputDeviceStateTests {
    static func keyboard() throws -> VirtioInputDevice { try VirtioInputDevice(configuration: .init(kind: .keyboard)) }

    /// A keyboard whose guest set Caps Lock and a configuration selection, and is owed the end
    /// of one report (its press was delivered into the guest's only buffer) and a whole second.
    static func keyboardOwingEvents(_ kind: InputOnTransport.Kind) throws -> (InputOnTransport, eventq: VirtioTestQueue, first: [[UInt8]]) {
        let a = try InputOnTransport(kind, device: try keyboard())
        let (eventq, statusq) = try a.startInput()
        try statusq.submit(readable: [inputRecord(0x11, 1, 1)])   // EV_LED LED_CAPSL on
        try a.driver.kick(statusq)
        _ = try a.driver.waitForUsed(statusq)
        #expect(a.device.ledState == .capsLock)
        _ = InputProbe.select(a.driver, 0x11, 0x01)
        try a.postEventBuffers(eventq, count: 1)
        a.device.receive([.key(code: 30, pressed: true)])
        a.device.receive([.key(code: 30, pressed: false)])
        let first = try a.receiveRecords(eventq, count: 1)
        #expect(waitUntil { a.device.backlogCount == 3 })
        return (a, eventq, first)
    }

    @Test("owed events, LEDs and the selection move to a new machine; each event arrives once", arguments: [InputOnTransport.Kind.mmio, .pciMSIX])
    func moveToANewMachine(kind: InputOnTransport.Kind) throws {
        let (a, eventq, first) = try Self.keyboardOwingEvents(kind)
        let b = try InputOnTransport(kind, device: try Self.keyboard())
        let move = try DeviceMove(from: a, to: b)
        #expect(b.device.ledState == .capsLock)
        #expect(Array(b.device.readConfig().prefix(2)) == [0x11, 0x01])
        #expect(b.device.backlogCount == 3)
        for _ in 0..<4 { try eventq.submit(writable: [VirtioInputEvent.size]) }
        try move.notify(eventq)
        let rest = try move.waitForUsed(eventq, count: 3).map(\.written)
        #expect(first + rest == [inputRecord(1, 30, 1), synReportRecord, inputRecord(1, 30, 0), synReportRecord])
        try move.expectNoMoreUsed(eventq)
        // The new device goes on taking events.
        b.device.receive([.key(code: 42, pressed: true)])
        let next = try move.waitForUsed(eventq, count: 1).map(\.written)
        #expect(next == [inputRecord(1, 42, 1)])
    }

    @Test("saved, stopped and resumed in place: the owed events arrive once")
    func inPlace() throws {
        let (a, eventq, first) = try Self.keyboardOwingEvents(.pciMSIX)
        let record = a.device.saveState(id: "device")
        // Frozen from the save on: a buffer posted now waits for the resume.
        try a.postEventBuffers(eventq, count: 4)
        a.expectNoMoreUsed(eventq)
        #expect(a.attachment.pci?.quiesce() == true)
        a.attachment.pci?.resume()
        let rest = try a.receiveRecords(eventq, count: 3)
        #expect(first + rest == [inputRecord(1, 30, 1), synReportRecord, inputRecord(1, 30, 0), synReportRecord])
        a.expectNoMoreUsed(eventq)
        #expect(a.device.ledState == .capsLock)
        #expect(try record.string("kind") == "keyboard")
    }

    @Test("damaged or foreign records are refused with the field, and the device is unchanged")
    func refusals() throws {
        let (a, _, _) = try Self.keyboardOwingEvents(.mmio)
        let good = DeviceMove<VirtioInputDevice>.save(a).last!
        let b = try InputOnTransport(.mmio, device: try Self.keyboard())
        _ = try b.startInput()
        let events = try good.bytes("events")
        let cases: [(DeviceStateRecord, String)] = [
            (good.with("kind", .string("tablet")), "kind"),
            (good.with("leds", .unsigned(0x80)), "leds"),
            (good.with("select", .unsigned(256)), "select"),
            (good.with("report-lengths", .unsignedArray([1, 1, 1])), "report-lengths"),   // a report without SYN_REPORT
            (good.with("report-lengths", .unsignedArray([0, 2_000_000])), "report-lengths"),
            (good.with("events", .bytes(Array(events.dropLast()))), "events"),
            (good.with("events", .bytes(inputRecord(3, 0, 5) + Array(events.dropFirst(8)))), "events"),   // EV_ABS from a keyboard
            (good.with("events", .string("x")), "events"),
        ]
        DeviceStateMutationTests.expectRefusals(cases) { try b.device.restoreState($0) }
        var wrongKind = good
        wrongKind.kind = "virtio-gpu"
        #expect(throws: DeviceStateError.wrongKind(id: "device", expected: "virtio-input", found: "virtio-gpu")) { try b.device.restoreState(wrongKind) }
        #expect(b.device.backlogCount == 0 && b.device.ledState == [])
        // A device the driver has not started takes no events.
        let c = try InputOnTransport(.mmio, device: try Self.keyboard())
        #expect(throws: DeviceStateError.self) { try c.device.restoreState(good) }
    }
}
