import DeviceModel
import DeviceModelTesting
import Glibc
import HostIO
import Virtio
import VirtioDevices

/// A virtio-blk device over a 1 MiB image in tmpfs, activated on one queue of 256 entries in
/// simulated guest RAM whose descriptor table holds one request: a 16-byte header, one 4 KiB
/// data buffer (device-writable for a read, readable for a write) and the status byte.
/// ``serve(_:)`` (inline engine) runs on the device's I/O thread: it offers the request again
/// as a driver would and has the queue served as a kick would; ``serveKicked(_:)`` (any
/// engine) is the driver on another thread, kicking and waiting for each used entry.
final class BenchBlockDevice: @unchecked Sendable {
    // SAFETY (@unchecked): after init, only ``serve(_:)`` touches the ring, on the I/O thread.
    static let size: UInt16 = 256
    static let descriptors: UInt64 = 0x0, avail: UInt64 = 0x1000, used: UInt64 = 0x2000
    static let header: UInt64 = 0x10000, data: UInt64 = 0x11000, status: UInt64 = 0x12000
    static let imageSize = 1 << 20

    let machine: SimulatedMachine
    let device: VirtioBlockDevice
    let kick: EventNotifier
    private var availIndex: UInt16 = 0

    /// `write`: the request writes its 4 KiB to the image instead of reading them.
    init(write: Bool, engine: BlockIOEngine = .inline) throws {
        let path = "/dev/shm/swiftdm-bench-\(getpid())-\(write ? "w" : "r").img"
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0, ftruncate(fd, off_t(Self.imageSize)) == 0 else { throw BenchError("cannot create \(path)") }
        close(fd)
        machine = try SimulatedMachine()
        let memory = machine.memory
        let type: UInt32 = write ? 1 : 0
        try memory.write(type, at: Self.header)
        try memory.write(UInt32(0), at: Self.header + 4)
        try memory.write(UInt64(8), at: Self.header + 8)   // sector 8: the image's second 4 KiB
        let chain: [(UInt64, UInt32, UInt16)] = [(Self.header, 16, 0), (Self.data, 4096, write ? 0 : 2), (Self.status, 1, 2)]
        for (i, d) in chain.enumerated() {
            let at = Self.descriptors + UInt64(16 * i)
            try memory.write(d.0, at: at)
            try memory.write(d.1, at: at + 8)
            try memory.write(d.2 | (i == chain.count - 1 ? 0 : 1), at: at + 12)
            try memory.write(UInt16(i + 1), at: at + 14)
        }
        let config = VirtioBlockConfiguration(path: path, serial: "bench", queueSize: Self.size, ioThreads: 1, aio: engine)
        device = try VirtioBlockDevice(configuration: config)
        // The device holds the image open; the name goes now (a deinit may run late, on the
        // I/O thread, after the next instance created its own image).
        unlink(path)
        let queue = try SplitVirtqueue(memory: memory,
                                       layout: VirtqueueLayout(size: Self.size, descriptorTable: Self.descriptors,
                                                               availRing: Self.avail, usedRing: Self.used),
                                       eventIndex: true, indirectDescriptors: true)
        kick = try EventNotifier()
        let activation = VirtioActivation(features: device.offeredFeatures, memory: memory,
                                          queues: [VirtioQueueBinding(index: 0, queue: queue, kick: kick)],
                                          interrupts: NullInterrupts())
        try device.activate(activation)
    }

    deinit { device.reset() }

    /// Serves `count` requests one at a time on the device's I/O thread; throws unless each
    /// completed with status OK.
    func serve(_ count: Int) throws {
        let failure: String? = device.service.loop.sync { [self] in
            guard let queue = device.service.queue(0) else { return "the queue is not running" }
            let memory = machine.memory
            for _ in 0..<count {
                do {
                    try memory.write(UInt8(0xFF), at: Self.status)
                    try memory.write(UInt16(0), at: Self.avail + 4 + 2 * UInt64(availIndex % Self.size))
                    availIndex &+= 1
                    try memory.write(availIndex, at: Self.avail + 2)
                    queue.resume()
                    guard try memory.read(UInt16.self, at: Self.used + 2) == availIndex,
                          try memory.read(UInt8.self, at: Self.status) == 0 else { return "request \(availIndex) not served" }
                } catch {
                    return "\(error)"
                }
            }
            return nil
        }
        if let failure { throw BenchError(failure) }
    }

    /// Offers, kicks and waits for `count` requests one at a time from the calling thread;
    /// throws unless each completed with status OK.
    func serveKicked(_ count: Int) throws {
        let memory = machine.memory
        for _ in 0..<count {
            try memory.write(UInt8(0xFF), at: Self.status)
            try memory.write(UInt16(0), at: Self.avail + 4 + 2 * UInt64(availIndex % Self.size))
            availIndex &+= 1
            try memory.storeRelease(availIndex, at: Self.avail + 2)
            try kick.signal()
            let deadline = ContinuousClock.now.advanced(by: .seconds(5))
            while try memory.loadAcquire(UInt16.self, at: Self.used + 2) != availIndex {
                guard ContinuousClock.now < deadline else { throw BenchError("request \(availIndex) not served") }
                sched_yield()
            }
            guard try memory.read(UInt8.self, at: Self.status) == 0 else { throw BenchError("request \(availIndex) failed") }
        }
    }
}

/// Drops every notification (the cost measured is the device's, not an interrupt's).
final class NullInterrupts: VirtioInterruptSink {
    func signalUsedBuffers(queue index: Int) {}
    func signalConfigChange() {}
    func deviceNeedsReset(_ error: VirtioDeviceError) {}
}
