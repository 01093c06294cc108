import DeviceModel
import DeviceModelTesting
import Display
import Foundation
import Testing
import Virtio
@testable import VirtioDevices
import VirtioTesting

/// Every field of a good virtio-console, -gpu and -input record replaced by hostile values
/// (another type, 0, the largest integers, empty and oversized arrays, junk bytes), or left
/// out: each restore either loads or throws a ``DeviceStateError`` — never a crash.
@Suite("virtio device records under mutation")
struct DeviceStateMutationTests {
    static let hostile: [DeviceStateRecord.Value] = [
        .bool(true), .string("x"), .unsigned(0), .unsigned(1), .unsigned(.max), .unsigned(UInt64(UInt32.max) + 1),
        .unsignedArray([]), .unsignedArray([.max]), .unsignedArray(Array(repeating: 3, count: 70_000)),
        .bytes([]), .bytes([0xFF]), .bytes([UInt8](repeating: 0xA5, count: 70_000)),
    ]

    /// Restores each damaged record of `cases` into `restore`: every one must be refused with
    /// an error naming its field.
    static func expectRefusals(_ cases: [(DeviceStateRecord, String)], _ restore: (DeviceStateRecord) throws -> Void,
                               after check: (String) -> Void = { _ in }) {
        for (record, field) in cases {
            do {
                try restore(record)
                Issue.record("a record with a bad \(field) was accepted")
            } catch {
                #expect("\(error)".contains(field), "\(field): \(error)")
            }
            check(field)
        }
    }

    /// Restores every mutation of `good` into `restore`; counts the refusals.
    static func mutate(_ good: DeviceStateRecord, _ restore: (DeviceStateRecord) throws(DeviceStateError) -> Void) -> Int {
        var refused = 0
        var variants: [DeviceStateRecord] = []
        for field in good.fields.map(\.name) {
            for value in hostile { variants.append(good.with(field, value)) }
            var without = DeviceStateRecord(id: good.id, kind: good.kind, version: good.version)
            for f in good.fields where f.name != field { without.set(f.name, f.value) }
            variants.append(without)
        }
        var future = good
        future.version = 2
        variants.append(future)
        for record in variants {
            do throws(DeviceStateError) { try restore(record) } catch { refused += 1 }
        }
        return refused
    }

    @Test func inputRecords() throws {
        let (a, _, _) = try InputDeviceStateTests.keyboardOwingEvents(.mmio)
        let good = DeviceMove<VirtioInputDevice>.save(a).last!
        let b = try InputOnTransport(.mmio, device: try InputDeviceStateTests.keyboard())
        _ = try b.startInput()
        #expect(Self.mutate(good) { r throws(DeviceStateError) in try b.device.restoreState(r) } > good.fields.count)
    }

    @Test func gpuRecords() throws {
        let (a, _) = try GPUDeviceStateTests.drawingGuest(.mmio)
        let good = DeviceMove<VirtioGPUDevice>.save(a.fixture).last!
        let (b, _) = try GPUDeviceStateTests.fresh(.mmio)
        _ = try b.start(queues: [0, 1])
        #expect(Self.mutate(good) { r throws(DeviceStateError) in try b.device.restoreState(r) } > good.fields.count)
    }

    @Test func consoleRecords() throws {
        let (good, _) = try ConsoleDeviceStateTests.savedMultiportRecord()
        let pairB = try SocketPair()
        defer { close(pairB.peer) }
        let b = try DeviceOnTransport(.mmio, device: try ConsoleDeviceStateTests.console(pairB, multiport: true))
        _ = try b.start(queues: [0, 1, 2, 3])
        #expect(Self.mutate(good) { r throws(DeviceStateError) in try b.device.restoreState(r) } > good.fields.count)
    }
}
