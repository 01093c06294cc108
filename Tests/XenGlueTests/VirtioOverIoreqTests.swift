import DeviceModel
import DeviceModelTesting
import Synchronization
import Testing
import Virtio
import VirtioDevices
import XenGlue
import XenSimulation
#if canImport(Glibc)
import Glibc
#endif

/// Forwards every access of a "guest view" dispatcher to the simulated Xen, the way a vCPU's
/// accesses trap into the hypervisor: the test driver below then reaches the device only
/// through ioreqs.
private final class TrapToXen: IOHandler {
    let xen: SimulatedXen
    let space: IOSpace
    init(xen: SimulatedXen, space: IOSpace) {
        self.xen = xen
        self.space = space
    }

    func read(at offset: UInt64, size: Int) -> UInt64 {
        var r = IORequest.read(space, offset, size: size)
        do { try xen.emulate(vcpu: 0, &r) } catch { return IORequest.mask(forSize: size) }
        return r.value ?? IORequest.mask(forSize: size)
    }

    func write(at offset: UInt64, size: Int, value: UInt64) {
        var w = IORequest.write(space, offset, size: size, value: value)
        try? xen.emulate(vcpu: 0, &w)
    }
}

/// virtio-blk over virtio-pci, unchanged, behind XenGlue's ioreq server: configuration
/// cycles arrive as `IOREQ_TYPE_PCI_CONFIG`, BAR accesses as `IOREQ_TYPE_COPY`, the queue
/// notify through the software ioeventfd, rings and data through foreign mappings, and the
/// completion as an MSI-X message through `inject_msi`.
@Suite struct VirtioOverIoreqTests {
    @Test func virtioBlockReadAndWriteThroughIoreqs() throws {
        // The disk: 64 KiB with a pattern.
        let path = "/tmp/swiftdm-xen-blk-\(getpid()).img"
        let pattern = (0..<65536).map { UInt8(truncatingIfNeeded: $0 / 512 &* 37 &+ $0 % 251) }
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        #expect(fd >= 0)
        _ = pattern.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        defer { unlink(path) }

        // Device-model side: the dispatcher, PCI bus 0 wired the Xen way, virtio-blk on slot 3.
        let dispatcher = IODispatcher()
        let ram = try SharedGuestRAM(layout: [(0, 16 << 20)])
        let domain = try SimulatedXenDomain(vcpuCount: 1, ram: ram, dispatcher: dispatcher)
        defer { domain.stop() }
        let msi = RecordingMSIController()
        domain.deliverInterrupts(msi: { try? msi.signal($0) }, line: { _, _ in }, pciRouting: .swizzled((16, 17, 18, 19)))
        let bus = try PCIBus(dispatcher: dispatcher, interruptLines: domain.interruptLines,
                             intxRouting: XenInterruptLines.pciINTxRouting)
        let blk = try VirtioBlockDevice(configuration: VirtioBlockConfiguration(path: path, serial: "xen-sim"))
        let transport = try VirtioPCITransport(device: blk, memory: domain.guestMemory, msi: domain.msiController,
                                               ioEvents: dispatcher.softwareIOEvents)
        try bus.attach(transport, device: 3)
        defer { blk.reset() }

        // Guest side: every register access traps into the simulated Xen.
        let guestView = IODispatcher()
        try guestView.ports.register(base: 0, length: 0x1_0000, name: "trap", handler: TrapToXen(xen: domain.xen, space: .port))
        try guestView.memory.register(base: 0, length: .max, name: "trap", handler: TrapToXen(xen: domain.xen, space: .memory))
        try guestView.pciConfig.register(base: 0, length: .max, name: "trap", handler: TrapToXen(xen: domain.xen, space: .pciConfig))
        let pci = try VirtioPCITestTransport(dispatcher: guestView, sbdf: 3 << 3, interface: .modern, interruptMode: .msix)
        let driver = VirtioTestDriver(transport: pci, memory: ram.memory, arena: 0x10_0000..<0x50_0000,
                                      interrupts: VirtioTestInterruptSource(msi: msi))
        let queue = try driver.start(features: VirtioTestSpec.Feature.version1, queues: [0])[0]

        // VIRTIO_BLK_T_IN of sectors 2–3, then VIRTIO_BLK_T_OUT of sector 5.
        func header(_ type: UInt32, _ sector: UInt64) -> [UInt8] {
            withUnsafeBytes(of: type.littleEndian) { Array($0) } + [0, 0, 0, 0] + withUnsafeBytes(of: sector.littleEndian) { Array($0) }
        }
        _ = try queue.submit(readable: [header(0, 2)], writable: [1024, 1])
        driver.notify(queue)
        let read = try driver.waitForUsed(queue)
        #expect(read.first?.length == 1025)
        #expect(read.first.map { Array($0.written.prefix(1024)) } == Array(pattern[1024..<2048]))
        #expect(read.first?.written.last == 0, "VIRTIO_BLK_S_OK")

        let data = [UInt8](repeating: 0xa5, count: 512)
        _ = try queue.submit(readable: [header(1, 5), data], writable: [1])
        driver.notify(queue)
        #expect(try driver.waitForUsed(queue).first?.written == [0])
        let back = open(path, O_RDONLY | O_CLOEXEC)
        var sector = [UInt8](repeating: 0, count: 512)
        _ = sector.withUnsafeMutableBytes { pread(back, $0.baseAddress, 512, 5 * 512) }
        close(back)
        #expect(sector == data)

        // The path taken: PCI config and BAR accesses as ioreqs, MSI-X through inject_msi.
        let stats = domain.server.statistics
        #expect(stats.pciConfig > 20, "\(stats)")
        #expect(stats.memory > 10, "\(stats)")
        #expect(stats.faults == 0, "\(stats)")
        #expect(!msi.messages.all.isEmpty, "completion interrupts")
        #expect(domain.xen.interrupts.contains { if case .msi = $0 { true } else { false } })
        #expect(domain.guestMemory.statistics.misses > 0, "rings reached through foreign mappings")
        withExtendedLifetime((bus, transport)) {}
    }
}
