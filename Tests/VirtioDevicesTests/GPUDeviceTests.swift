import DeviceModel
import DeviceModelTesting
import Display
import Testing
import Virtio
@testable import VirtioDevices
import VirtioTesting

@Suite("virtio-gpu device")
struct GPUDeviceTests {
    @Test("identity: device type 16, two queues, VERSION_1, EDID only when configured")
    func identity() throws {
        let display = GuestDisplay()
        let device = try VirtioGPUDevice(display: display)
        #expect(device.deviceType == .gpu && device.deviceType.rawValue == 16)
        #expect(device.queueMaxSizes == [256, 16])
        let ring = VirtioFeature.version1 | VirtioFeature.eventIndex | VirtioFeature.indirectDescriptors
        #expect(device.offeredFeatures & ring == ring)
        #expect(device.offeredFeatures & (1 << 1) != 0)
        #expect(device.offeredFeatures & 1 == 0)  // no virgl
        let plain = try VirtioGPUDevice(configuration: .init(edid: false), display: GuestDisplay())
        #expect(plain.offeredFeatures & (1 << 1) == 0)
    }

    @Test("configuration space: events_read, events_clear (write 1 to clear), num_scanouts, num_capsets = 0")
    func configSpace() throws {
        let bed = try GPUTestbed(configuration: .init(scanouts: [(800, 600), (640, 480), (1024, 768)]))
        #expect(bed.driver.readConfig(offset: 8, size: 4) == 3)
        #expect(bed.driver.readConfig(offset: 12, size: 4) == 0)
        #expect(bed.driver.readConfig(offset: 0, size: 4) == 0)
        bed.device.displayChanged()
        #expect(try bed.driver.waitForInterrupt().configChange)
        #expect(bed.driver.readConfig(offset: 0, size: 4) == 1)
        bed.driver.writeConfig(offset: 4, size: 4, value: 2)  // another bit: no effect
        #expect(bed.driver.readConfig(offset: 0, size: 4) == 1)
        bed.driver.writeConfig(offset: 4, size: 4, value: 1)
        #expect(bed.driver.readConfig(offset: 0, size: 4) == 0)
        #expect(bed.driver.readConfig(offset: 4, size: 4) == 0)
        // Writes to read-only fields are ignored.
        bed.driver.writeConfig(offset: 8, size: 4, value: 9)
        #expect(bed.driver.readConfig(offset: 8, size: 4) == 3)
    }

    @Test("invalid configurations are refused with the offending value")
    func invalidConfiguration() {
        #expect(throws: VirtioGPUError.invalidScanoutCount(0)) {
            _ = try VirtioGPUDevice(configuration: .init(scanouts: []), display: GuestDisplay())
        }
        #expect(throws: VirtioGPUError.invalidScanoutCount(17)) {
            _ = try VirtioGPUDevice(configuration: .init(scanouts: Array(repeating: (640, 480), count: 17)), display: GuestDisplay(scanouts: 17))
        }
        #expect(throws: VirtioGPUError.invalidScanoutSize(index: 1, width: 8, height: 480, maximum: 4095)) {
            _ = try VirtioGPUDevice(configuration: .init(scanouts: [(640, 480), (8, 480)]), display: GuestDisplay(scanouts: 2))
        }
        #expect(throws: VirtioGPUError.invalidScanoutSize(index: 0, width: 5120, height: 2880, maximum: 4095)) {
            _ = try VirtioGPUDevice(configuration: .init(scanouts: [(5120, 2880)]), display: GuestDisplay())
        }
        #expect(throws: VirtioGPUError.invalidMaxHostMemory(0)) {
            _ = try VirtioGPUDevice(configuration: .init(maxHostMemory: 0), display: GuestDisplay())
        }
        #expect(throws: VirtioGPUError.invalidQueueSize(100)) {
            _ = try VirtioGPUDevice(configuration: .init(controlQueueSize: 100), display: GuestDisplay())
        }
        #expect(throws: VirtioGPUError.tooFewSurfaces(scanouts: 2, surfaces: 1)) {
            _ = try VirtioGPUDevice(configuration: .init(scanouts: [(640, 480), (640, 480)]), display: GuestDisplay(scanouts: 1))
        }
        // Without EDID a scanout may be larger than a detailed timing can say.
        #expect(throws: Never.self) {
            _ = try VirtioGPUDevice(configuration: .init(scanouts: [(5120, 2880)], edid: false), display: GuestDisplay())
        }
    }

    @Test("the format table is QEMU's for little-endian hosts")
    func formatTable() {
        let expected: [UInt32: PixelFormat] = [
            1: .a8r8g8b8, 2: .x8r8g8b8, 3: .b8g8r8a8, 4: .b8g8r8x8,
            67: .a8b8g8r8, 68: .r8g8b8x8, 121: .r8g8b8a8, 134: .x8b8g8r8,
        ]
        for (format, pixel) in expected { #expect(VirtioGPUFormat.pixelFormat(format) == pixel) }
        for unknown: UInt32 in [0, 5, 66, 100, 135, 0xFFFF_FFFF] { #expect(VirtioGPUFormat.pixelFormat(unknown) == nil) }
    }

    @Test("EDID block: header, version 1.4, checksum, preferred detailed timing of the scanout's size",
          arguments: [(1024, 768), (1920, 1080), (640, 480), (4095, 4095), (16, 16)])
    func edidBlock(size: (Int, Int)) {
        let e = GPUEDID.block(width: size.0, height: size.1)
        #expect(e.count == 128)
        #expect(Array(e[0..<8]) == [0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0])
        #expect(e[18] == 1 && e[19] == 4)
        #expect(e.reduce(0) { ($0 + Int($1)) & 0xFF } == 0)
        #expect(e[24] & 0x02 != 0)  // the first detailed timing is the preferred mode
        let d = Array(e[54..<72])
        #expect(Int(d[0]) | Int(d[1]) << 8 > 0)  // a timing, not a display descriptor
        #expect(Int(d[2]) | Int(d[4] >> 4) << 8 == size.0)
        #expect(Int(d[5]) | Int(d[7] >> 4) << 8 == size.1)
        #expect(e[126] == 0)
    }
}
