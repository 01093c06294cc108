import DeviceModel
#if canImport(Glibc)
import Glibc
#endif
import Testing
import VirtioDevices
import VirtioEcho

/// Drives the echo device the way a driver would: one split queue in guest RAM, two
/// chains, a kick, then the used ring.
@Test("the echo device returns each chain's readable bytes in its writable buffers")
func echoes() throws {
    let memory = try MappedGuestMemory.anonymous([(guestBase: 0, length: 1 << 20)])
    let size: UInt16 = 8
    let layout = VirtqueueLayout(size: size, descriptorTable: 0x1000, availRing: 0x2000, usedRing: 0x3000)
    let kick = try EventNotifier()
    let queue = try SplitVirtqueue(memory: memory, layout: layout, eventIndex: false, indirectDescriptors: false)

    func descriptor(_ i: UInt16, _ address: UInt64, _ length: UInt32, _ flags: UInt16, _ next: UInt16) throws {
        let d = layout.descriptorTable + 16 * UInt64(i)
        try memory.write(address, at: d)
        try memory.write(length, at: d + 8)
        try memory.write(flags, at: d + 12)
        try memory.write(next, at: d + 14)
    }
    // Chain 0: "hello" → 16-byte buffer. Chain 2: "swiftdm!" → 4-byte buffer (truncated).
    try memory.writeBytes(Array("hello".utf8), at: 0x10000)
    try descriptor(0, 0x10000, 5, 1, 1)
    try descriptor(1, 0x11000, 16, 2, 0)
    try memory.writeBytes(Array("swiftdm!".utf8), at: 0x12000)
    try descriptor(2, 0x12000, 8, 1, 3)
    try descriptor(3, 0x13000, 4, 2, 0)
    try memory.write(UInt16(0), at: layout.availRing + 4)
    try memory.write(UInt16(2), at: layout.availRing + 6)
    try memory.storeRelease(UInt16(2), at: layout.availRing + 2)

    let device = try VirtioEchoDevice()
    #expect(device.deviceType.rawValue == 0xB0)
    #expect(VirtioDeviceType.experimentalRange.contains(device.deviceType.rawValue))
    let sink = Interrupts()
    try device.activate(VirtioActivation(features: device.offeredFeatures & ~VirtioFeature.eventIndex, memory: memory,
                                         queues: [VirtioQueueBinding(index: 0, queue: queue, kick: kick)], interrupts: sink))
    try kick.signal()

    var waited = 0
    while try memory.loadAcquire(UInt16.self, at: layout.usedRing + 2) < 2 && waited < 20_000 {
        usleep(1000)   // a bounded wait (hang guard); the kick belongs to the device
        waited += 1
    }
    #expect(try memory.read(UInt32.self, at: layout.usedRing + 4) == 0)
    #expect(try memory.read(UInt32.self, at: layout.usedRing + 8) == 5)
    #expect(try memory.read(UInt32.self, at: layout.usedRing + 12) == 2)
    #expect(try memory.read(UInt32.self, at: layout.usedRing + 16) == 4)
    #expect(try memory.readBytes(at: 0x11000, count: 5) == Array("hello".utf8))
    #expect(try memory.readBytes(at: 0x13000, count: 4) == Array("swif".utf8))
    #expect(device.readConfig() == [9, 0, 0, 0, 0, 0, 0, 0])
    device.reset()
}

final class Interrupts: VirtioInterruptSink {
    func signalUsedBuffers(queue index: Int) {}
    func signalConfigChange() {}
    func deviceNeedsReset(_ error: VirtioDeviceError) {}
}
