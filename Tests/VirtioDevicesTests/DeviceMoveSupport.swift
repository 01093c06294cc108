import DeviceModel
import Foundation
import DeviceModelTesting
import Testing
import Virtio
import VirtioTesting

/// A device carried from one simulated machine to a freshly built one as a snapshot carries it
/// (its own record first, then stopped at a safe point, then its PCI function and transport —
/// the order `VirtioDeviceAttacher` saves in — through an encoded archive, with the guest's
/// RAM copied), and the first machine's driver going on against the second: the bytes the
/// driver changes are copied over before each notification, and what the device wrote is
/// copied back once it is done (whole pages would undo what the other side wrote).
final class DeviceMove<Device: VirtioDevice & DeviceStateful> {
    let from: DeviceOnTransport<Device>
    let to: DeviceOnTransport<Device>
    /// The archive that carried the device.
    let archive: [UInt8]
    /// The first machine's RAM as of the last exchange.
    private var synced: [UInt8]

    static var pciSlot: UInt8 { SimulatedTransportAttachment<Device>.pciSlot }
    static var ramSize: Int { Int(DeviceOnTransport<Device>.ramSize) }

    /// Saves `from` and returns its records, as a machine saves a device.
    static func save(_ from: DeviceOnTransport<Device>) -> [DeviceStateRecord] {
        let device = from.device.saveState(id: "device")
        var records: [DeviceStateRecord] = []
        if let pci = from.attachment.pci {
            pci.quiesce()
            if let function = from.attachment.bus?.saveFunctionState(device: pciSlot, function: 0, id: "function") { records.append(function) }
            records.append(pci.saveState(id: "transport"))
        } else if let mmio = from.attachment.mmio {
            mmio.quiesce()
            records.append(mmio.saveState(id: "transport"))
        }
        return records + [device]
    }

    /// Loads `archive` into `to` (RAM already in place), as a machine restores a device.
    static func restore(_ archive: DeviceStateArchive, into to: DeviceOnTransport<Device>) throws {
        if let pci = to.attachment.pci {
            try to.attachment.bus?.restoreFunctionState(try archive.record("function"), device: pciSlot, function: 0)
            try pci.restoreState(try archive.record("transport"))
        } else if let mmio = to.attachment.mmio {
            try mmio.restoreState(try archive.record("transport"))
        }
        try to.device.restoreState(try archive.record("device"))
    }

    /// Moves `from`'s device into `to`, a fresh fixture with a device of the same configuration.
    init(from: DeviceOnTransport<Device>, to: DeviceOnTransport<Device>) throws {
        self.from = from
        self.to = to
        archive = DeviceStateArchive(records: Self.save(from)).encoded()
        synced = try from.machine.memory.readBytes(at: 0, count: Self.ramSize)
        try to.machine.memory.writeBytes(synced, at: 0)
        try Self.restore(try DeviceStateArchive(decoding: archive), into: to)
    }

    /// The driver made `queue` entries available (in the first machine's RAM): the bytes it
    /// changed go over and the new device is notified.
    func notify(_ queue: VirtioTestQueue) throws {
        let now = try from.machine.memory.readBytes(at: 0, count: Self.ramSize)
        var start: Int?
        for word in stride(from: 0, to: now.count, by: 8) {
            let changed = now[word..<word + 8] != synced[word..<word + 8]
            if changed, start == nil { start = word }
            if !changed, let s = start {
                try to.machine.memory.writeBytes(now[s..<word], at: UInt64(s))
                start = nil
            }
        }
        if let s = start { try to.machine.memory.writeBytes(now[s...], at: UInt64(s)) }
        synced = now
        to.attachment.driverTransport.notify(queue: queue.index)
    }

    /// Waits until the new device has used `count` more entries of `queue`, copies its RAM back
    /// and returns them as the driver reads them.
    func waitForUsed(_ queue: VirtioTestQueue, count: Int = 1, timeout: Duration = .seconds(10)) throws -> [VirtioTestCompletion] {
        let usedIndex = queue.placement.usedRing + 2
        let deadline = ContinuousClock.now + timeout
        while try to.machine.memory.read(UInt16.self, at: usedIndex) &- queue.lastUsedIndex < UInt16(count) {
            guard ContinuousClock.now < deadline else {
                throw TestFailure("\(count) used entries on queue \(queue.index) did not come in the new machine")
            }
            usleep(1000)
        }
        synced = try to.machine.memory.readBytes(at: 0, count: Self.ramSize)
        try from.machine.memory.writeBytes(synced, at: 0)
        return try from.driver.waitForUsed(queue, count: count)
    }

    /// Nothing more is used on `queue` in the new machine within a short grace period.
    func expectNoMoreUsed(_ queue: VirtioTestQueue) throws {
        usleep(50_000)
        let used = try to.machine.memory.read(UInt16.self, at: queue.placement.usedRing + 2)
        #expect(used == queue.lastUsedIndex, "unexpected used entries on queue \(queue.index)")
    }
}

extension DeviceStateRecord {
    /// The record with field `name` set to `value` (for corrupted-record tests).
    func with(_ name: String, _ value: DeviceStateRecord.Value) -> DeviceStateRecord {
        var r = self
        r.set(name, value)
        return r
    }
}
