import Testing
@testable import VirtioDevices

/// The bounded backlog on its own: order, whole-report drops, the report in progress.
@Suite("virtio-input backlog")
struct InputBacklogTests {
    static func report(_ codes: UInt16...) -> [VirtioInputEvent] {
        codes.map { VirtioInputEvent(type: 1, code: $0, value: 1) } + [.synReport]
    }

    static func drain(_ b: inout InputEventBacklog) -> [UInt16] {
        var codes: [UInt16] = []
        while let e = b.popFirst() { codes.append(e.code) }
        return codes
    }

    @Test("first in, first out")
    func order() {
        var b = InputEventBacklog(limit: 16)
        #expect(b.append(Self.report(1, 2)) == nil)
        #expect(b.append(Self.report(3)) == nil)
        #expect(b.count == 5)
        #expect(Self.drain(&b) == [1, 2, 0, 3, 0])
        #expect(b.isEmpty)
    }

    @Test("overflow drops the oldest whole reports; the first drop after draining is flagged")
    func dropOldest() {
        var b = InputEventBacklog(limit: 6)
        _ = b.append(Self.report(1))
        _ = b.append(Self.report(2, 3))
        #expect(b.append(Self.report(4, 5)) == .init(droppedReports: 1, droppedEvents: 2, firstSinceDrained: true))
        #expect(b.count == 6)
        #expect(b.append(Self.report(6)) == .init(droppedReports: 1, droppedEvents: 3, firstSinceDrained: false))
        #expect(Self.drain(&b) == [4, 5, 0, 6, 0])
        #expect(b.append(Self.report(1, 2, 3, 4, 5)) == nil)
        #expect(b.append(Self.report(7)) == .init(droppedReports: 1, droppedEvents: 6, firstSinceDrained: true))
    }

    @Test("the report being delivered is finished; if that leaves no room the new one is dropped")
    func startedReport() {
        var b = InputEventBacklog(limit: 5)
        _ = b.append(Self.report(1, 2, 3))
        #expect(b.popFirst()?.code == 1)
        _ = b.append(Self.report(4))
        #expect(b.count == 5)
        // Dropping the waiting report 4 makes room.
        #expect(b.append(Self.report(5)) == .init(droppedReports: 1, droppedEvents: 2, firstSinceDrained: true))
        // The started report leaves room for 2 events only: a 3-event report is dropped, the
        // waiting one stays.
        #expect(b.append(Self.report(6, 7)) == .init(droppedReports: 1, droppedEvents: 3, firstSinceDrained: false))
        #expect(Self.drain(&b) == [2, 3, 0, 5, 0])
    }

    @Test("a report longer than the limit is dropped without touching the others")
    func oversized() {
        var b = InputEventBacklog(limit: 4)
        _ = b.append(Self.report(1))
        #expect(b.append(Self.report(2, 3, 4, 5)) == .init(droppedReports: 1, droppedEvents: 5, firstSinceDrained: true))
        #expect(Self.drain(&b) == [1, 0])
    }

    @Test("a long run of appends and pops keeps count and memory bounded")
    func longRun() {
        var b = InputEventBacklog(limit: 64)
        var popped = 0
        for i in 0..<10_000 {
            _ = b.append(Self.report(UInt16(i % 500)))
            #expect(b.count <= 64)
            if i % 3 == 0, b.popFirst() != nil { popped += 1 }
        }
        #expect(b.count >= 62)
        b.removeAll()
        #expect(b.isEmpty && b.popFirst() == nil)
        #expect(popped > 3000)
    }

    @Test("virtio_input_event encodes little-endian and decodes back, signed values included")
    func record() {
        let e = VirtioInputEvent(type: 0x0102, code: 0x0304, value: -2)
        #expect(e.bytes == [0x02, 0x01, 0x04, 0x03, 0xFE, 0xFF, 0xFF, 0xFF])
        #expect(VirtioInputEvent(bytes: e.bytes) == e)
        #expect(VirtioInputEvent(bytes: [1, 2, 3]) == nil)
        #expect(VirtioInputEvent.synReport.bytes == Array(repeating: 0, count: 8))
    }
}
