import Dispatch
import DeviceModelTesting
import Display
import Testing
import Virtio
@testable import VirtioDevices
import VirtioTesting

/// Outputs call the device from their own threads while the guest takes events.
@Suite("virtio-input from several output threads")
struct InputConcurrencyTests {
    @Test("reports sent concurrently arrive whole and in each sender's order", arguments: [InputOnTransport.Kind.mmio, .pciMSIX])
    func concurrentSenders(transport: InputOnTransport.Kind) throws {
        let senders = 4, reportsEach = 200
        let f = try InputOnTransport(transport, device: try VirtioInputDevice(configuration: .init(kind: .mouse, backlogLimit: 4096)))
        let (eventq, _) = try f.startInput(size: 64)
        try f.postEventBuffers(eventq, count: 64)
        let device = f.device
        for sender in 0..<senders {
            DispatchQueue.global().async {
                // REL_X says who sent the report, REL_Y its sequence number.
                for i in 0..<reportsEach { device.receive([.relative(dx: Int32(sender + 1), dy: Int32(i + 1))]) }
            }
        }
        var records: [[UInt8]] = []
        let total = senders * reportsEach * 3
        while records.count < total {
            let used = try f.driver.waitForUsed(eventq, count: 1, timeout: .seconds(20))
            records += used.map(\.written)
            // Give the buffers back, as virtinput_recv_events does.
            try f.postEventBuffers(eventq, count: used.count)
        }
        #expect(records.count == total)
        var next = [Int32](repeating: 1, count: senders)
        for start in stride(from: 0, to: records.count - 2, by: 3) {
            let (x, y, syn) = (records[start], records[start + 1], records[start + 2])
            guard let ex = VirtioInputEvent(bytes: x), let ey = VirtioInputEvent(bytes: y),
                  ex.type == 2, ex.code == 0, ey.type == 2, ey.code == 1, syn == synReportRecord,
                  (1...Int32(senders)).contains(ex.value) else {
                Issue.record("report at \(start) is not REL_X, REL_Y, SYN_REPORT: \(x) \(y) \(syn)")
                return
            }
            let sender = Int(ex.value) - 1
            #expect(ey.value == next[sender], "sender \(sender)")
            next[sender] = ey.value + 1
        }
        #expect(next == Array(repeating: Int32(reportsEach + 1), count: senders))
        #expect(device.backlogCount == 0)
    }
}
