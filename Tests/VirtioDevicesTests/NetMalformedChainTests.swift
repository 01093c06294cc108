import DeviceModel
import DeviceModelTesting
import Testing
@testable import VirtioDevices

/// A hostile or broken driver: each malformed chain puts the device in DEVICE_NEEDS_RESET,
/// visible in the transport's status register with a configuration interrupt, and a reset
/// brings it back.
@Suite("virtio-net malformed chains") struct NetMalformedChainTests {
    enum Fault: String, CaseIterable, CustomStringConvertible {
        case txWithWritableBuffer
        case txShorterThanHeader
        case txDescriptorLoop
        case txAvailIndexJump
        case rxWithReadableBuffer
        case rxSmallerThanHeader
        case rxHeadOutOfRange
        case rxBufferOutsideMemory
        case ctrlWithoutAck

        var description: String { rawValue }

        var queue: Int {
            switch self {
            case .txWithWritableBuffer, .txShorterThanHeader, .txDescriptorLoop, .txAvailIndexJump: VirtioNetDevice.txQueue
            case .rxWithReadableBuffer, .rxSmallerThanHeader, .rxHeadOutOfRange, .rxBufferOutsideMemory: VirtioNetDevice.rxQueue
            case .ctrlWithoutAck: VirtioNetDevice.ctrlQueue
            }
        }

        /// Does it, as the driver, and kicks; rx faults need a frame to make the device look.
        func inflict(on bed: NetTestbed) throws {
            let frame = netHeader() + ethernetFrame(payload: 64)
            switch self {
            case .txWithWritableBuffer:
                try bed.tx.submit(readable: [frame], writable: [16])
            case .txShorterThanHeader:
                try bed.tx.submit(readable: [[1, 2, 3, 4, 5]])
            case .txDescriptorLoop:
                let a = try bed.driver.arena.allocate(64)
                try bed.tx.rawWriteDescriptor(0, VirtioTestDescriptor(address: a, length: 64, flags: VirtioTestSpec.DescriptorFlag.next, next: 1))
                try bed.tx.rawWriteDescriptor(1, VirtioTestDescriptor(address: a, length: 64, flags: VirtioTestSpec.DescriptorFlag.next, next: 0))
                try bed.tx.rawPublish(head: 0)
            case .txAvailIndexJump:
                try bed.tx.rawSetAvailIndex(100)
            case .rxWithReadableBuffer:
                try bed.rx.submit(readable: [[0]], writable: [1536])
            case .rxSmallerThanHeader:
                try bed.rx.submit(writable: [8])
            case .rxHeadOutOfRange:
                try bed.rx.rawPublish(head: 99)
            case .rxBufferOutsideMemory:
                try bed.rx.submit([VirtioTestBuffer(address: 0x1_0000_0000, length: 1536, writable: true)])
            case .ctrlWithoutAck:
                guard let ctrl = bed.ctrl else { throw TestbedError("no control queue") }
                try ctrl.submit(readable: [[0, 0, 1]])
                bed.driver.notify(ctrl)
                return
            }
            let queue = queue == VirtioNetDevice.txQueue ? bed.tx! : bed.rx!
            bed.driver.notify(queue)
            if queue.index == VirtioNetDevice.rxQueue { bed.backend.inject(frame) }
        }
    }

    static let cases: [(NetTransport, Fault)] = NetTransport.modern.flatMap { t in Fault.allCases.map { (t, $0) } }

    @Test("a malformed chain sets DEVICE_NEEDS_RESET and a configuration interrupt; reset recovers",
          arguments: cases)
    func needsReset(transport: NetTransport, fault: Fault) throws {
        let bed = try NetTestbed(transport)
        try bed.start()
        try fault.inflict(on: bed)
        try bed.driver.waitForStatus(VirtioTestSpec.Status.deviceNeedsReset)
        #expect(try bed.driver.waitForInterrupt().configChange)
        guard case .device(let error) = bed.needsResetReason else {
            Issue.record("reason \(String(describing: bed.needsResetReason))")
            return
        }
        switch error {
        case .queue(let index, _), .malformedRequest(let index, _, _): #expect(index == fault.queue, "\(error)")
        default: Issue.record("unexpected reason \(error)")
        }
        if fault == .rxHeadOutOfRange {
            #expect(error == .queue(index: 0, .descriptorIndexOutOfRange(index: 99, tableSize: 16)))
        }

        try bed.start()
        #expect(bed.driver.status & VirtioTestSpec.Status.deviceNeedsReset == 0)
        #expect(bed.needsResetReason == nil)
        let frame = netHeader() + ethernetFrame(payload: 64, tag: 7)
        while bed.backend.nextSent(timeoutMs: 0) != nil {}
        try bed.transmit(frame)
        #expect(bed.backend.nextSent() == frame)
        try bed.postReceiveBuffers(1, size: 1536)
        bed.backend.inject(frame)
        #expect(try bed.receivePackets(1).first?.last == 7)
    }
}
