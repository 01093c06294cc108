import DeviceModel
import DeviceModelTesting
import Foundation
import Machine
import Testing
import Virtio
import X86Machine

/// A PC's whole device state saved and loaded into a freshly built PC of the same
/// configuration, and refused for a PC of another one.
@Suite struct PCMachineDeviceStateTests {
    struct Fixture {
        let machine: PCMachine
        let vcpu: SimulatedVCPU
        let bios: String

        init(disk: String, devices extra: [VirtioDeviceSpec] = []) throws {
            bios = try PCMachineTests.firmwareFile()
            var config = PCConfiguration(boot: .firmware(path: bios), memory: MemorySize(bytes: 32 << 20))
            config.devices = [.block(BlockDeviceSpec(path: disk)), .entropy(EntropyDeviceSpec(transport: .mmio))] + extra
            machine = try PCMachine(configuration: config, accelerator: try RecordingAccelerator(), serialOutput: { _ in })
            vcpu = SimulatedVCPU(dispatcher: machine.dispatcher, memory: machine.ram)
        }

        func conf1(_ device: UInt64, _ register: UInt64) -> UInt64 { 0x8000_0000 | device << 11 | register }
    }

    static func disk(_ size: Int) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sdm-state-\(getpid())-\(UUID().uuidString).img").path
        #expect(FileManager.default.createFile(atPath: path, contents: Data(count: size)))
        return path
    }


    /// A PC on `disk` with some state set through its registers, saved.
    static func savedState(disk: String) throws -> [UInt8] {
        let a = try Fixture(disk: disk)
        defer { try? FileManager.default.removeItem(atPath: a.bios) }
        try a.vcpu.write(.port, 0x3FF, size: 1, value: 0x77)                    // COM1 scratch
        try a.vcpu.write(.port, 0x70, size: 1, value: 0x40)                     // CMOS NVRAM byte 0x40
        try a.vcpu.write(.port, 0x71, size: 1, value: 0x99)
        // Place the virtio-blk function's BAR4 (64-bit memory) and enable decoding, as firmware does.
        try a.vcpu.write(.port, 0xCF8, size: 4, value: a.conf1(1, 0x20))
        try a.vcpu.write(.port, 0xCFC, size: 4, value: 0xC100_0000)
        try a.vcpu.write(.port, 0xCF8, size: 4, value: a.conf1(1, 0x04))
        try a.vcpu.write(.port, 0xCFC, size: 2, value: 0x6)
        try a.vcpu.write(.memory, 0xC100_0000, size: 4, value: 1)              // device_feature_select
        return try a.machine.saveDeviceState().encoded()
    }

    @Test func aFreshPCTakesBackEverything() throws {
        let disk = try Self.disk(1 << 20)
        defer { try? FileManager.default.removeItem(atPath: disk) }
        // The first PC goes away before the second is built, as the process that saved does:
        // the disk image is locked while a machine has it open.
        let bytes = try Self.savedState(disk: disk)
        let featureSelect = 0xC100_0000 as UInt64   // common config: device_feature_select
        let b = try Fixture(disk: disk)
        defer { try? FileManager.default.removeItem(atPath: b.bios) }
        try b.machine.restoreDeviceState(try DeviceStateArchive(decoding: bytes))
        #expect(try b.vcpu.read(.port, 0x3FF, size: 1) == 0x77)
        try b.vcpu.write(.port, 0x70, size: 1, value: 0x40)
        #expect(try b.vcpu.read(.port, 0x71, size: 1) == 0x99)
        #expect(b.machine.pciBus.readConfig(bus: 0, device: 1, function: 0, register: 0x20, size: 4) & 0xFFFF_FFF0 == 0xC100_0000)
        #expect(try b.vcpu.read(.memory, featureSelect, size: 4) == 1, "the BAR decodes at the restored address, with the transport's registers")
    }

    @Test func anotherConfigurationIsRefused() throws {
        let disk = try Self.disk(1 << 20)
        let bigger = try Self.disk(2 << 20)
        defer { try? FileManager.default.removeItem(atPath: disk); try? FileManager.default.removeItem(atPath: bigger) }
        let archive = try DeviceStateArchive(decoding: try Self.savedState(disk: disk))
        let other = try Fixture(disk: bigger)
        defer { try? FileManager.default.removeItem(atPath: other.bios) }
        #expect {
            try other.machine.restoreDeviceState(archive)
        } throws: { error in
            "\(error)".contains("capacity-bytes = 1048576: expected 2097152")
        }
        do {
            let more = try Fixture(disk: disk, devices: [.entropy(EntropyDeviceSpec())])
            defer { try? FileManager.default.removeItem(atPath: more.bios) }
            #expect(throws: MachineError.deviceState(.missingRecord(id: "pci/0000:00:02.0"))) { try more.machine.restoreDeviceState(archive) }
        }
        var extra = archive
        extra.records.append(DeviceStateRecord(id: "pci/0000:00:09.0/device", kind: "virtio-rng", version: 1))
        let same = try Fixture(disk: disk)
        defer { try? FileManager.default.removeItem(atPath: same.bios) }
        #expect(throws: MachineError.deviceState(.unexpectedRecords(ids: ["pci/0000:00:09.0/device"]))) { try same.machine.restoreDeviceState(extra) }
    }

    /// Every device of the catalogue saves its state (virtio-input, -console and -gpu too); a
    /// device an embedder attached without ``DeviceModel/DeviceStateful`` makes the snapshot
    /// refuse, before anything is stopped.
    @Test func aDeviceWhoseStateIsNotCapturedRefusesTheSnapshot() throws {
        let disk = try Self.disk(1 << 20)
        defer { try? FileManager.default.removeItem(atPath: disk) }
        let a = try Fixture(disk: disk, devices: [.input(InputDeviceSpec(kind: .keyboard))])
        defer { try? FileManager.default.removeItem(atPath: a.bios) }
        let saved = try a.machine.saveDeviceState()
        a.machine.resumeDevices()
        #expect(saved.records.contains { $0.kind == "virtio-input" })
        try a.machine.devices.attach(StatelessDevice(), transport: .pci, name: "an embedder's device")
        #expect {
            try a.machine.saveDeviceState()
        } throws: { error in
            "\(error)".hasPrefix("cannot snapshot this machine: an embedder's device")
        }
    }
}

/// A virtio device that keeps no saved state (as an embedder's own device may).
final class StatelessDevice: VirtioDevice {
    var deviceType: VirtioDeviceType { .entropy }
    var offeredFeatures: UInt64 { VirtioFeature.version1 }
    var queueMaxSizes: [UInt16] { [16] }
    func readConfig() -> [UInt8] { [] }
    func writeConfig(offset: Int, bytes: [UInt8]) {}
    func activate(_ activation: VirtioActivation) throws(VirtioDeviceError) {}
    func reset() {}
}
