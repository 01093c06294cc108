import DeviceModelTesting
import Display
import Testing
import Virtio
@testable import VirtioDevices
import VirtioTesting

/// A hostile or broken driver: each malformed chain puts the device in DEVICE_NEEDS_RESET
/// with a message naming the queue, the head and what is wrong; a reset brings it back.
@Suite("virtio-input malformed chains")
struct InputHostileDriverTests {
    enum Fault: String, CaseIterable, CustomStringConvertible {
        case readableEventBuffer, mixedEventBuffer, shortEventBuffer, writableStatusBuffer, partialStatusRecord, emptyStatusBuffer

        var description: String { rawValue }
        var queue: Int { self.rawValue.contains("Event") ? VirtioInputDevice.eventQueue : VirtioInputDevice.statusQueue }
        /// Words the NEEDS_RESET reason must contain.
        var reasonMentions: String {
            switch self {
            case .readableEventBuffer, .mixedEventBuffer: "device-readable"
            case .shortEventBuffer: "shorter than one 8-byte"
            case .writableStatusBuffer: "device-writable"
            case .partialStatusRecord, .emptyStatusBuffer: "whole number"
            }
        }

        /// Posts the bad chain and does what makes the device look at it; returns its head.
        func inflict(_ f: InputOnTransport, eventq: VirtioTestQueue, statusq: VirtioTestQueue) throws -> UInt16 {
            let request: VirtioTestRequest
            switch self {
            case .readableEventBuffer: request = try eventq.submit(readable: [Array(repeating: 0, count: 8)])
            case .mixedEventBuffer: request = try eventq.submit(readable: [[0]], writable: [8])
            case .shortEventBuffer: request = try eventq.submit(writable: [4, 3])
            case .writableStatusBuffer: request = try statusq.submit(writable: [8])
            case .partialStatusRecord: request = try statusq.submit(readable: [[0x11, 0, 1, 0, 1, 0, 0]])
            case .emptyStatusBuffer: request = try statusq.submit(readable: [[]])
            }
            f.driver.notify(queue == 0 ? eventq : statusq)
            // Event buffers are taken only when there is an event to deliver.
            if queue == VirtioInputDevice.eventQueue { f.device.receive([.key(code: 30, pressed: true)]) }
            return request.head
        }
    }

    static let cases: [(InputOnTransport.Kind, Fault)] =
        [InputOnTransport.Kind.mmio, .pciMSIX].flatMap { t in Fault.allCases.map { (t, $0) } }

    @Test("malformed chain → DEVICE_NEEDS_RESET and a configuration interrupt; reset recovers", arguments: cases)
    func needsReset(transport: InputOnTransport.Kind, fault: Fault) throws {
        let f = try InputOnTransport(transport, device: try VirtioInputDevice(configuration: .init(kind: .keyboard)))
        let (eventq, statusq) = try f.startInput()
        let head = try fault.inflict(f, eventq: eventq, statusq: statusq)
        try f.driver.waitForStatus(VirtioTestSpec.Status.deviceNeedsReset)
        var irq = try f.driver.waitForInterrupt()
        while !irq.configChange { irq = try f.driver.waitForInterrupt() }
        guard case .device(.malformedRequest(let queue, let failedHead, let reason)) = f.needsResetReason else {
            Issue.record("reason \(String(describing: f.needsResetReason))")
            return
        }
        #expect(queue == fault.queue)
        #expect(failedHead == head)
        #expect(reason.contains(fault.reasonMentions), "\(reason)")
        // The stopped device takes nothing more.
        f.device.receive([.key(code: 31, pressed: true)])

        let (eventq2, statusq2) = try f.startInput()
        #expect(f.driver.status & VirtioTestSpec.Status.deviceNeedsReset == 0)
        #expect(f.needsResetReason == nil)
        #expect(f.device.backlogCount == 0)
        try f.postEventBuffers(eventq2, count: 4)
        f.device.receive([.key(code: 32, pressed: true)])
        #expect(try f.receiveRecords(eventq2, count: 2) == [inputRecord(1, 32, 1), synReportRecord])
        try statusq2.submit(readable: [inputRecord(0x11, 0, 1)])
        try f.driver.kick(statusq2)
        _ = try f.driver.waitForUsed(statusq2)
        #expect(f.device.ledState == [.numLock])
    }

    @Test("an eventq buffer of exactly 8 bytes in two pieces is fine")
    func splitBuffer() throws {
        let f = try InputOnTransport(.pciMSIX, device: try VirtioInputDevice(configuration: .init(kind: .keyboard)))
        let (eventq, _) = try f.startInput()
        try eventq.submit(writable: [3, 5])
        try eventq.submit(writable: [64], indirect: true)
        try f.driver.kick(eventq)
        f.device.receive([.key(code: 30, pressed: true)])
        let used = try f.driver.waitForUsed(eventq, count: 2)
        #expect(used.map(\.written) == [inputRecord(1, 30, 1), synReportRecord])
        #expect(used.map(\.length) == [8, 8])
        #expect(f.driver.status & VirtioTestSpec.Status.deviceNeedsReset == 0)
    }
}
