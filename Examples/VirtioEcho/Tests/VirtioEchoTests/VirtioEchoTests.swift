import DeviceModelTesting
import Testing
import Virtio
import VirtioEcho
import VirtioTesting

/// The transports an experimental device ID can sit on: virtio-mmio, for modern and legacy
/// drivers (virtio-pci device IDs end at 0x107F, below 0x1040 + 0xB0).
let transports: [DeviceOnTransport<VirtioEchoDevice>.Kind] = [.mmio, .mmioLegacy]

/// Drives the echo device as Linux's virtio drivers would, through the transport's
/// registers, with swiftdm's `DeviceOnTransport` test fixture: two chains, a kick, the used
/// ring, an interrupt, the configuration space.
@Test("the echo device returns each chain's readable bytes in its writable buffers", arguments: transports)
func echoes(kind: DeviceOnTransport<VirtioEchoDevice>.Kind) throws {
    let device = try VirtioEchoDevice()
    #expect(device.deviceType.rawValue == 0xB0)
    #expect(VirtioDeviceType.experimentalRange.contains(device.deviceType.rawValue))
    let f = try DeviceOnTransport(kind, device: device)
    let queue = try f.start(queues: [0])[0]

    // "hello" into 16 bytes; "swiftdm!" into 4 (truncated: the used length says how much).
    let hello = try queue.submit(readable: [Array("hello".utf8)], writable: [16])
    let swiftdm = try queue.submit(readable: [Array("swiftdm!".utf8)], writable: [4])
    try f.driver.kick(queue)
    let used = try f.driver.waitForUsed(queue, count: 2)
    let byHead = Dictionary(uniqueKeysWithValues: used.map { ($0.request.head, $0) })
    #expect(byHead[hello.head]?.length == 5)
    #expect(byHead[hello.head]?.written == Array("hello".utf8))
    #expect(byHead[swiftdm.head]?.length == 4)
    #expect(byHead[swiftdm.head]?.written == Array("swif".utf8))
    #expect(try f.driver.waitForInterrupt().usedBuffers)

    // Configuration space: le64 echoed_bytes.
    #expect(try f.driver.readConfigBytes(offset: 0, count: 8) == [9, 0, 0, 0, 0, 0, 0, 0])
}

@Test("virtio-pci refuses the experimental device ID with the offending type")
func noPCIDeviceID() throws {
    let device = try VirtioEchoDevice()
    #expect(throws: VirtioTestingError.transport(.pciDeviceIDOutOfRange(VirtioEchoDevice.deviceID))) {
        _ = try DeviceOnTransport(.pciMSIX, device: device)
    }
}
