import DeviceModel
import DeviceModelTesting
import Foundation
import HostIO
import Testing
import Virtio
@testable import VirtioDevices
import VirtioTesting

/// virtio-console's saved state: port 0's protocol state and the control messages not yet in a
/// guest buffer, and the bytes a full stream had not taken, carried to a freshly built machine
/// with another backend; damaged records refused with the field they got wrong.
@Suite("virtio-console device state")
struct ConsoleDeviceStateTests {
    typealias Fixture = DeviceOnTransport<VirtioConsoleDevice>

    static func console(_ pair: SocketPair, multiport: Bool) throws -> VirtioConsoleDevice {
        try VirtioConsoleDevice(configuration: .init(
            backend: FileDescriptorConsoleBackend(input: pair.device, output: pair.device, closeOnStop: true), multiport: multiport))
    }

    /// Reads what `fd` holds now, waiting at most `quiet` for more each time.
    static func drain(_ fd: Int32, quiet: Duration = .milliseconds(200)) -> [UInt8] {
        var out: [UInt8] = []
        while let more = try? readExactly(fd, 1, timeout: quiet) {
            out += more
            var buf = [UInt8](repeating: 0, count: 65536)
            let n = recv(fd, &buf, buf.count, Int32(MSG_DONTWAIT))
            if n > 0 { out += buf[..<n] }
        }
        return out
    }

    /// A guest that did the multiport handshake (DEVICE_READY, PORT_READY, PORT_OPEN) without
    /// posting control receive buffers, so the device's answers wait in its outbox.
    @Test("the handshake's state and unsent control messages move to a new machine", arguments: [Fixture.Kind.mmio, .pciMSIX])
    func multiportStateMoves(kind: Fixture.Kind) throws {
        let pairA = try SocketPair()
        defer { close(pairA.peer) }
        let a = try Fixture(kind, device: try Self.console(pairA, multiport: true))
        let q = try a.start(queues: [0, 1, 2, 3])
        let (rx, controlRx, controlTx) = (q[0], q[2], q[3])
        for message in [control(0xFFFF_FFFF, 0, 1), control(0, 3, 1), control(0, 6, 1)] {   // DEVICE_READY, PORT_READY, PORT_OPEN
            try controlTx.submit(readable: [message])
            try a.driver.kick(controlTx)
            _ = try a.driver.waitForUsed(controlTx)
        }
        let pairB = try SocketPair()
        defer { close(pairB.peer) }
        let b = try Fixture(kind, device: try Self.console(pairB, multiport: true))
        let move = try DeviceMove(from: a, to: b)
        let record = try DeviceStateArchive(decoding: move.archive).record("device")
        #expect(try record.bool("ready") && record.bool("guest-open"))
        #expect(try record.unsignedArray("control-lengths").count == 3)

        // The guest's control buffers, posted in the new machine, get the waiting messages in
        // order, then the new backend's open state.
        for _ in 0..<4 { try controlRx.submit(writable: [64]) }
        try move.notify(controlRx)
        let messages = try move.waitForUsed(controlRx, count: 4).map { ConsoleControlMessage(Array($0.written.prefix(Int($0.length)))) }
        #expect(messages == [.init(id: 0, event: .deviceAdd, value: 0), .init(id: 0, event: .consolePort, value: 1),
                             .init(id: 0, event: .portOpen, value: 1), .init(id: 0, event: .portOpen, value: 1)])
        // The port is still open on the guest's side: host input flows without a new PORT_OPEN.
        try rx.submit(writable: [64])
        try move.notify(rx)
        try writeAll(pairB.peer, Array("after".utf8))
        let input = try move.waitForUsed(rx)
        #expect(Array(input[0].written.prefix(Int(input[0].length))) == Array("after".utf8))
    }

    @Test("bytes a full stream had not taken are written by the new machine, once and in order")
    func pendingOutputMoves() throws {
        let pairA = try SocketPair()
        defer { close(pairA.peer) }
        var small: Int32 = 4096
        setsockopt(pairA.device, SOL_SOCKET, SO_SNDBUF, &small, socklen_t(4))
        let a = try Fixture(.pciMSIX, device: try Self.console(pairA, multiport: false))
        let q = try a.start(queues: [0, 1])
        let tx = q[1]
        let payload = (0..<(512 << 10)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 11) }
        try tx.submit(readable: [payload])
        try a.driver.kick(tx)
        _ = try readExactly(pairA.peer, 1)   // output started, then the socket filled
        let pairB = try SocketPair()
        defer { close(pairB.peer) }
        let b = try Fixture(.pciMSIX, device: try Self.console(pairB, multiport: false))
        let move = try DeviceMove(from: a, to: b)
        let fromA = [payload[0]] + Self.drain(pairA.peer)
        // The chain went back to the guest when the first device stopped.
        #expect(try a.driver.waitForUsed(tx).count == 1)
        let pending = try DeviceStateArchive(decoding: move.archive).record("device").bytes("pending-output")
        #expect(pending.count == payload.count - fromA.count, "the record holds exactly what the first stream had not taken")
        // More output in the new machine comes after the rest.
        try tx.submit(readable: [Array("tail".utf8)])
        try move.notify(tx)
        let fromB = try readExactly(pairB.peer, pending.count + 4)
        #expect(fromA + fromB == payload + Array("tail".utf8))
        _ = try move.waitForUsed(tx)
    }

    /// The record of a running multiport console whose driver announced itself ready, and the
    /// socket peer its port writes to (the caller closes it).
    static func savedMultiportRecord() throws -> (DeviceStateRecord, peer: Int32) {
        let pair = try SocketPair()
        let a = try Fixture(.mmio, device: try console(pair, multiport: true))
        let q = try a.start(queues: [0, 1, 2, 3])
        try q[3].submit(readable: [control(0xFFFF_FFFF, 0, 1)])
        try a.driver.kick(q[3])
        _ = try a.driver.waitForUsed(q[3])
        return (DeviceMove<VirtioConsoleDevice>.save(a).last!, pair.peer)
    }

    @Test("damaged or foreign records are refused with the field")
    func refusals() throws {
        let (good, peerA) = try Self.savedMultiportRecord()
        defer { close(peerA) }
        let pairB = try SocketPair()
        defer { close(pairB.peer) }
        let b = try Fixture(.mmio, device: try Self.console(pairB, multiport: true))
        _ = try b.start(queues: [0, 1, 2, 3])
        let add = control(0, 1, 0)
        let cases: [(DeviceStateRecord, String)] = [
            (good.with("active", .bool(false)), "active"),
            (good.with("multiport", .bool(false)), "multiport"),
            (good.with("control-lengths", .unsignedArray([8, 8])), "control-outbox"),
            (good.with("control-lengths", .unsignedArray([4])).with("control-outbox", .bytes(Array(add.prefix(4)))), "control-outbox"),
            (good.with("control-outbox", .bytes([0, 0, 0, 0, 99, 0, 0, 0])), "control-outbox"),   // no such event
            (good.with("control-outbox", .bytes(control(5, 1, 0))), "control-outbox"),    // another port
            (good.with("control-lengths", .unsignedArray(Array(repeating: 8, count: 65)))
                .with("control-outbox", .bytes(Array(repeating: add, count: 65).flatMap { $0 })), "control-lengths"),
            (good.with("pending-output", .bytes([UInt8](repeating: 1, count: (1 << 20) + 1))), "pending-output"),
            (good.with("ready", .string("yes")), "ready"),
        ]
        DeviceStateMutationTests.expectRefusals(cases) { try b.device.restoreState($0) }
        var wrongKind = good
        wrongKind.kind = "virtio-input"
        #expect(throws: DeviceStateError.wrongKind(id: "device", expected: "virtio-console", found: "virtio-input")) { try b.device.restoreState(wrongKind) }
        // Without multiport the port is open from activation on.
        let pairC = try SocketPair()
        defer { close(pairC.peer) }
        let c = try Fixture(.mmio, device: try Self.console(pairC, multiport: false))
        _ = try c.start(queues: [0, 1])
        let single = c.device.saveState(id: "device")
        #expect(throws: DeviceStateError.self) { try c.device.restoreState(single.with("guest-open", .bool(false))) }
        #expect(throws: DeviceStateError.self) { try c.device.restoreState(single.with("control-lengths", .unsignedArray([8])).with("control-outbox", .bytes(add))) }
        try b.device.restoreState(good)
    }
}
