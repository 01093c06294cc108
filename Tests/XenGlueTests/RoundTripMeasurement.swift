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
        for _ in 0..<200 { _ = try d.pio(read: 0x60, size: 1) } // warm up
        let n = 5000
        var samples: [Double] = []
        samples.reserveCapacity(n)
        let clock = ContinuousClock()
        for _ in 0..<n {
            let t0 = clock.now
            _ = try d.pio(read: 0x60, size: 1)
            let dt = clock.now - t0
            samples.append(Double(dt.components.attoseconds) / 1e12 + Double(dt.components.seconds) * 1e6)
        }
        samples.sort()
        let mean = samples.reduce(0, +) / Double(n)
        func fmt(_ v: Double) -> String { "\(Double(Int(v * 10)) / 10)" }
        print("MEASURE: xen-sim ioreq round trip (PIO read, \(n) samples): median \(fmt(samples[n / 2])) µs, p90 \(fmt(samples[n * 9 / 10])) µs, mean \(fmt(mean)) µs")
        #expect(d.server.statistics.portIO == UInt64(n + 200))
    }
}
