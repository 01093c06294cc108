import DeviceModel
import Testing
import XenGlue
import XenSimulation
#if canImport(Glibc)
import Glibc
#endif

/// Measures one synchronous ioreq through the simulated pages and event channels: slot
/// filled, READY, evtchn notify → server thread wakes, dispatches, IORESP_READY, notify →
/// vCPU thread wakes, reads data, NONE. Prints the numbers; asserts nothing about them.
@Suite struct RoundTripMeasurement {
    @Test func ioreqRoundTrip() throws {
        let d = try XenTestDomain(vcpus: 1)
        let n = 5000
        func fmt(_ v: Double) -> String { "\(Double(Int(v * 10)) / 10)" }
        let kinds: [(String, IORequest)] = [
            ("PIO read ", IORequest.read(.port, 0x60, size: 1)),
            ("MMIO read", IORequest.read(.memory, XenTestDomain.mmioBase, size: 4)),
        ]
        for (name, template) in kinds {
            var samples: [Double] = []
            samples.reserveCapacity(n)
            let clock = ContinuousClock()
            for i in 0..<(n + 200) {
                var request = template
                let t0 = clock.now
                try d.xen.emulate(vcpu: 0, &request)
                let dt = clock.now - t0
                if i >= 200 { samples.append(Double(dt.components.attoseconds) / 1e12 + Double(dt.components.seconds) * 1e6) }
            }
            samples.sort()
            let mean = samples.reduce(0, +) / Double(n)
            print("MEASURE: xen-sim ioreq round trip (\(name), \(n) samples): median \(fmt(samples[n / 2])) µs, p90 \(fmt(samples[n * 9 / 10])) µs, mean \(fmt(mean)) µs")
        }
        #expect(d.server.statistics.portIO == UInt64(n + 200))
        #expect(d.server.statistics.memory == UInt64(n + 200))
    }
}
