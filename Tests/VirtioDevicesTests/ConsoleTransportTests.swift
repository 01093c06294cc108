import DeviceModel
import DeviceModelTesting
import Foundation
import HostIO
import Testing
@testable import VirtioDevices
import VirtioTesting

@Suite("virtio-console through virtio-mmio and virtio-pci")
struct ConsoleTransportTests {
    @Test("echo through a socketpair, single port", arguments: DeviceOnTransport<VirtioConsoleDevice>.Kind.allCases)
    func echo(kind: DeviceOnTransport<VirtioConsoleDevice>.Kind) throws {
        let pair = try SocketPair()
        defer { close(pair.peer) }
        let device = try VirtioConsoleDevice(configuration: .init(
            backend: FileDescriptorConsoleBackend(input: pair.device, output: pair.device, closeOnStop: true), multiport: false))
        let f = try DeviceOnTransport(kind, device: device)
        let queues = try f.start(queues: [0, 1])
        let (rx, tx) = (queues[0], queues[1])
        try rx.submit(writable: [64])
        try f.driver.kick(rx)
        try tx.submit(readable: [Array("ping\n".utf8)])
        try f.driver.kick(tx)
        #expect(try readExactly(pair.peer, 5) == Array("ping\n".utf8))
        #expect(try f.driver.waitForUsed(tx)[0].length == 0)
        try writeAll(pair.peer, Array("pong\n".utf8))
        #expect(try f.driver.waitForUsed(rx)[0].written == Array("pong\n".utf8))
    }

    @Test("multiport handshake over virtio-mmio: port 0 becomes the console", arguments: [DeviceOnTransport<VirtioConsoleDevice>.Kind.mmio, .pciMSIX])
    func multiport(kind: DeviceOnTransport<VirtioConsoleDevice>.Kind) throws {
        let pair = try SocketPair()
        defer { close(pair.peer) }
        let device = try VirtioConsoleDevice(configuration: .init(
            backend: FileDescriptorConsoleBackend(input: pair.device, output: pair.device, closeOnStop: true), multiport: true))
        let f = try DeviceOnTransport(kind, device: device)
        #expect(try f.driver.readConfigBytes(offset: 4, count: 4) == [1, 0, 0, 0])   // max_nr_ports
        let queues = try f.start(queues: [0, 1, 2, 3])
        let (cRx, cTx) = (queues[2], queues[3])
        for _ in 0..<6 { try cRx.submit(writable: [64]) }
        try f.driver.kick(cRx)
        try cTx.submit(readable: [control(0xFFFF_FFFF, 0, 1)])   // DEVICE_READY
        try f.driver.kick(cTx)
        #expect(try f.driver.waitForUsed(cRx)[0].written == control(0, 1, 0))   // DEVICE_ADD port 0
        try cTx.submit(readable: [control(0, 3, 1)])              // PORT_READY
        try f.driver.kick(cTx)
        let replies = try f.driver.waitForUsed(cRx, count: 2).map(\.written)
        #expect(replies == [control(0, 4, 1), control(0, 6, 1)])  // CONSOLE_PORT, PORT_OPEN
    }
}
