import DeviceModel
import DeviceModelTesting
import Foundation
import Machine
import Testing
import X86Machine

/// A snapshottable ``RecordingAccelerator``: its "processor state" is what a real
/// accelerator's interrupt controller would hold — here, how many MSIs had reached it when the
/// state was read.
final class SnapshottableRecordingAccelerator: RecordingAccelerator, SnapshottableAccelerator, @unchecked Sendable {
    // SAFETY: no state of its own; the superclass's is behind its locks.
    var isPaused: Bool { false }
    func pause() -> Bool { true }
    func resume() {}

    func saveProcessorState() throws -> [DeviceStateRecord] {
        let delivered = simulated.msi.messages.count
        log.withLock { $0.append("saveProcessorState msi=\(delivered)") }
        var r = DeviceStateRecord(id: "kvm/recording", kind: "recording", version: 1)
        r.set("msi-count", UInt64(delivered))
        return [r]
    }

    func createProcessors(count: Int, restoring records: [DeviceStateRecord]) throws {}
}

/// `PCMachine.saveSnapshot` and the requests in flight when it is taken.
@Suite struct PCMachineSnapshotTests {
    /// A completion still on its way when the snapshot starts — its interrupt not yet at the
    /// interrupt controller — must be in the snapshot: the devices finish what they took
    /// before the processors (with their interrupt controllers) are read. Otherwise the
    /// restored guest finds the request in the used ring but never hears of it, and a Linux
    /// guest waits for that block request forever.
    @Test func anInterruptStillOnItsWayIsInTheSavedProcessorState() throws {
        let disk = try PCMachineDeviceStateTests.disk(1 << 20)
        let snapshot = FileManager.default.temporaryDirectory.appendingPathComponent("sdm-snap-\(getpid())-\(UUID().uuidString)").path
        let bios = try PCMachineTests.firmwareFile()
        defer {
            for p in [disk, snapshot, bios] { try? FileManager.default.removeItem(atPath: p) }
        }
        var config = PCConfiguration(boot: .firmware(path: bios), memory: MemorySize(bytes: 32 << 20))
        config.devices = [.block(BlockDeviceSpec(path: disk))]
        let accelerator = try SnapshottableRecordingAccelerator()
        let machine = try PCMachine(configuration: config, accelerator: accelerator, serialOutput: { _ in })
        let msi = accelerator.simulated.msi

        // The driver side, as Linux sets up virtio-blk-pci (function 00:01.0, BARs in the PCI
        // window below the ECAM range): MSI-X, queue 0.
        let pci = try VirtioPCITestTransport(dispatcher: machine.dispatcher, sbdf: 1 << 3, interface: .modern, interruptMode: .msix,
                                             memoryWindow: 0xC100_0000)
        let driver = VirtioTestDriver(transport: pci, memory: machine.ram, arena: 0x10_0000..<0x50_0000,
                                      interrupts: VirtioTestInterruptSource(msi: msi))
        let queue = try driver.start(features: VirtioTestSpec.Feature.version1, queues: [0])[0]

        // VIRTIO_BLK_T_OUT of sector 5; its completion interrupt is held on its way.
        msi.holdDeliveries()
        let header = withUnsafeBytes(of: UInt32(1).littleEndian) { Array($0) } + [0, 0, 0, 0]
            + withUnsafeBytes(of: UInt64(5).littleEndian) { Array($0) }
        _ = try queue.submit(readable: [header, [UInt8](repeating: 0x5A, count: 512)], writable: [1])
        driver.notify(queue)
        #expect(msi.heldMessages.wait(forCount: 1, timeout: .seconds(10)), "the device completed the write")

        try machine.pause()
        // Time for a snapshot that does not wait for the device to read the processors first.
        Thread.detachNewThread {
            usleep(300_000)
            msi.releaseDeliveries()
        }
        try machine.saveSnapshot(to: snapshot)

        #expect(accelerator.log.withLock { $0 }.filter { $0.hasPrefix("saveProcessorState") } == ["saveProcessorState msi=1"],
                "the interrupt of the completed write is part of the saved processors")
        #expect(try driver.waitForUsed(queue).first?.written == [0], "VIRTIO_BLK_S_OK")
    }
}
