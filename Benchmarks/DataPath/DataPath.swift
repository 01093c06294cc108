import Benchmark
import DeviceModel
import DeviceModelTesting
import HostIO
import Virtio

// The hot paths a guest drives on every I/O: an exit's dispatch to its handler, a split
// virtqueue's pop and push (1 and 4 descriptors, and an indirect table of 4), a virtio-blk
// request parsed and a whole 4 KiB read and write served by the device (inline and io_uring
// engines, tmpfs image), a 64 KiB frame received by virtio-net over mergeable buffers, and an
// MSI-X vector raised on a simulated machine. Allocation counts come from the malloc interposer;
// the goal for every one of these is 0 per operation in steady state.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput],
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 1_000_000)

    Benchmark("PIO exit dispatch (one handler)") { benchmark in
        let dispatcher = IODispatcher()
        try dispatcher.ports.register(base: 0x510, length: 2, name: "bench", handler: NullHandler())
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var request = IORequest.read(.port, 0x510, size: 2)
            try dispatcher.dispatch(&request)
            blackHole(request.value)
        }
    }

    Benchmark("MMIO exit dispatch (64 regions)") { benchmark in
        let dispatcher = IODispatcher()
        for i in 0..<64 {
            try dispatcher.memory.register(base: 0xFE00_0000 + UInt64(i) * 0x1000, length: 0x1000, name: "r\(i)", handler: NullHandler())
        }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var request = IORequest.write(.memory, 0xFE02_A010, size: 4, value: 1)
            try dispatcher.dispatch(&request)
        }
    }

    for shape in RingShape.allCases {
        Benchmark("split virtqueue pop + push, \(shape.name)") { benchmark in
            let ring = try BenchRing(shape: shape)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                try ring.offer()
                guard let chain = try ring.queue.popAvailable() else { throw BenchError("the benchmark ring ran dry") }
                try ring.queue.pushUsed(head: chain.head, bytesWritten: UInt32(chain.writableLength))
                blackHole(try ring.queue.needsNotification())
            }
        }
    }

    Benchmark("virtio-blk request parsing (header, 2 data buffers, status)") { benchmark in
        // What the block device does to a popped chain before any I/O: the header through a
        // reader, the data buffers and the status byte through a writer.
        let ring = try BenchRing(shape: .four)
        let memory = ring.machine.memory
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            try ring.offer()
            guard let chain = try ring.queue.popAvailable() else { throw BenchError("the benchmark ring ran dry") }
            var reader = ChainReader(memory: memory, buffers: chain.readable)
            let type = try reader.read(UInt32.self)
            try reader.skip(4)
            let sector = try reader.read(UInt64.self)
            var writer = ChainWriter(memory: memory, buffers: chain.writable)
            let data = try writer.takeBuffers(count: chain.writableLength - 1)
            blackHole((type, sector, data, chain.writable.last))
            try ring.queue.pushUsed(head: chain.head, bytesWritten: UInt32(chain.writableLength))
        }
    }

    for write in [false, true] {
        Benchmark("virtio-blk 4k \(write ? "write" : "read") served (inline engine, tmpfs image)") { benchmark in
            let device = try BenchBlockDevice(write: write)
            benchmark.startMeasurement()
            try device.serve(benchmark.scaledIterations.count)
            benchmark.stopMeasurement()
            blackHole(device)
        }
    }

    if IOURingAvailability.problem == nil {
        for write in [false, true] {
            Benchmark("virtio-blk 4k \(write ? "write" : "read") served (io_uring engine, tmpfs image, kicked)") { benchmark in
                // Kicked and awaited from this thread: the time includes two thread wake-ups.
                let device = try BenchBlockDevice(write: write, engine: .ioUring)
                benchmark.startMeasurement()
                try device.serveKicked(benchmark.scaledIterations.count)
                benchmark.stopMeasurement()
                blackHole(device)
            }
        }
    }

    Benchmark("virtio-net rx of a 64 KiB TSO frame into 16 mergeable buffers (socket backend)") { benchmark in
        // Sent and awaited from this thread: the time includes the device thread's wake-up.
        let device = try BenchNetDevice()
        try device.receive(64)   // every buffer used once: the pools and held-chain storage are warm
        benchmark.startMeasurement()
        try device.receive(benchmark.scaledIterations.count)
        benchmark.stopMeasurement()
        blackHole(device)
    }

    Benchmark("MSI-X vector raised (simulated machine)") { benchmark in
        let vector = try BenchMSIX()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try vector.capability.notify(vector: 0))
        }
    }
}

/// Reads as zero, ignores writes.
final class NullHandler: IOHandler {
    func read(at offset: UInt64, size: Int) -> UInt64 { 0 }
    func write(at offset: UInt64, size: Int, value: UInt64) {}
}

/// Delivers nowhere (the cost measured is the capability's, not a hypervisor's).
final class NullMSIController: MSIController {
    func signal(_ message: MSIMessage) throws(InterruptError) {}
}
