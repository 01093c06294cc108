import DeviceModel
import Synchronization
import XenGlue
import XenSimulation

/// A simulated domain with swiftdm attached as its ioreq server, with three scratch
/// devices claimed: ports 0x60–0x6f, MMIO 0xfe00_0000 (4 KiB), the legacy VGA window
/// 0xa0000–0xbffff (bufferable: below 1 MiB) and PCI 00:03.0's config space.
final class XenTestDomain: @unchecked Sendable {
    // SAFETY (@unchecked): every stored property is an immutable reference to a
    // thread-safe object (the simulation, the server, Mutex-backed devices).
    static let domid: XenDomainID = 7
    static let portBase: UInt64 = 0x60
    static let mmioBase: UInt64 = 0xfe00_0000
    static let vgaBase: UInt64 = 0xa_0000
    static let pciFunction = PCIAddress(bus: 0, device: 3, function: 0)!
    /// Guest RAM: 4 MiB at 0 and 1 MiB at 256 MiB; everything else is a hole.
    static let ramLayout: [(guestBase: UInt64, length: UInt64)] = [(0, 4 << 20), (0x1000_0000, 1 << 20)]

    let ram: SharedGuestRAM
    let xen: SimulatedXen
    let dispatcher = IODispatcher()
    let ports: ScratchDevice
    let mmio = ScratchDevice(length: 4096)
    let vga = ScratchDevice(length: 0x2_0000)
    let pciConfig = ScratchDevice(length: 4096)
    let server: XenIoreqServer
    private let faultLog = FaultLog()

    /// - Parameter slowPortReads: port reads take 50 ms, so a vCPU surely sleeps before
    ///   the answer arrives.
    init(vcpus: Int = 2, responseTimeout: Duration = .seconds(10), start: Bool = true, slowPortReads: Bool = false) throws {
        ports = ScratchDevice(length: 16, readDelayMs: slowPortReads ? 50 : 0)
        ram = try SharedGuestRAM(layout: Self.ramLayout)
        xen = try SimulatedXen(domid: Self.domid, vcpuCount: vcpus, ram: ram, responseTimeout: responseTimeout)
        try dispatcher.ports.register(base: Self.portBase, length: 16, name: "scratch-pio", handler: ports)
        try dispatcher.memory.register(base: Self.mmioBase, length: 4096, name: "scratch-mmio", handler: mmio)
        try dispatcher.memory.register(base: Self.vgaBase, length: 0x2_0000, name: "scratch-vga", handler: vga)
        try dispatcher.pciConfig.register(base: Self.pciFunction.configAddress(register: 0), length: 4096, name: "scratch-pci", handler: pciConfig)
        let log = faultLog
        server = try XenIoreqServer(
            domid: Self.domid, hypervisor: try xen.openHypervisor(), dispatcher: dispatcher, announcesReadiness: true,
            faultHandler: { error in log.append(error) })
        try server.claimRegisteredRanges()
        if start { try server.start() }
    }

    deinit { server.stop() }

    var faults: [XenIoreqError] { faultLog.all }

    /// Waits (briefly) until the server has reported `count` faults; buffered requests are
    /// served asynchronously.
    func waitForFaults(_ count: Int) -> [XenIoreqError] {
        for _ in 0..<500 where faults.count < count { usleepMs(2) }
        return faults
    }

    // MARK: Raw requests

    func pio(vcpu: Int = 0, read address: UInt64, size: UInt32) throws -> UInt64 {
        try xen.send(vcpu: vcpu, SimulatedIoreq(type: SimulatedIoreq.pio, address: address, size: size, isRead: true))
    }

    func pio(vcpu: Int = 0, write value: UInt64, to address: UInt64, size: UInt32) throws {
        try xen.send(vcpu: vcpu, SimulatedIoreq(type: SimulatedIoreq.pio, address: address, data: value, size: size, isRead: false))
    }
}

/// Faults reported by a server, in order.
final class FaultLog: Sendable {
    private let entries = Mutex<[XenIoreqError]>([])
    func append(_ e: XenIoreqError) { entries.withLock { $0.append(e) } }
    var all: [XenIoreqError] { entries.withLock { $0 } }
}

func usleepMs(_ ms: Int) {
    var ts = timespec(tv_sec: 0, tv_nsec: ms * 1_000_000)
    nanosleep(&ts, nil)
}

#if canImport(Glibc)
import Glibc
#endif
