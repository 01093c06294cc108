import Testing
@testable import StorageBench

@Suite("Latency histogram")
struct LatencyHistogramTests {
    @Test("percentiles land within a bucket's width of the true value")
    func percentiles() {
        var h = LatencyHistogram()
        for v in 1...10_000 { h.record(UInt64(v) * 1000) }   // 1 µs … 10 ms, uniform
        #expect(h.count == 10_000)
        #expect(abs(h.mean - 5_000_500) < 1)
        let p50 = Double(h.percentile(0.5)), p99 = Double(h.percentile(0.99))
        #expect(abs(p50 - 5_000_000) / 5_000_000 < 0.07, "p50 \(p50)")
        #expect(abs(p99 - 9_900_000) / 9_900_000 < 0.07, "p99 \(p99)")
        #expect(h.percentile(1) == 10_000_000)
        #expect(h.percentile(0) == 1000)
    }

    @Test("every value falls in the bucket whose range holds it")
    func buckets() {
        for v: UInt64 in [0, 1, 31, 32, 33, 47, 48, 1000, 65_535, 1 << 40, (1 << 47) + 12345] {
            let r = LatencyHistogram.range(of: LatencyHistogram.bucket(of: v))
            #expect(r.low <= v && v < r.high, "\(v) in \(r)")
        }
        #expect(LatencyHistogram.bucket(of: .max) == LatencyHistogram.bucketCount - 1)
    }

    @Test("an empty histogram reports zeros")
    func empty() {
        let h = LatencyHistogram()
        #expect(h.mean == 0 && h.percentile(0.99) == 0)
    }
}
