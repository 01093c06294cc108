import DeviceModel
import DeviceModelTesting
import Testing

// The two backends' views of an access, written out field by field from the real headers,
// and the mapping onto `IORequest` that the `IORequest` doc-comment table prescribes.

/// The access-describing fields of Xen's `struct ioreq` (<xen/hvm/ioreq.h>).
struct XenIoreq {
    static let typePIO: UInt8 = 0         // IOREQ_TYPE_PIO
    static let typeCopy: UInt8 = 1        // IOREQ_TYPE_COPY (MMIO)
    static let typePCIConfig: UInt8 = 2   // IOREQ_TYPE_PCI_CONFIG
    static let dirRead: UInt8 = 1         // IOREQ_READ
    static let dirWrite: UInt8 = 0        // IOREQ_WRITE

    var addr: UInt64
    var data: UInt64
    var count: UInt32 = 1
    var size: UInt32
    var dataIsPtr = false
    var dir: UInt8
    var df = false
    var type: UInt8

    /// The request a Xen ioreq server builds; `nil` for types that are not accesses.
    var request: IORequest? {
        let space: IOSpace
        switch type {
        case Self.typePIO: space = .port
        case Self.typeCopy: space = .memory
        case Self.typePCIConfig: space = .pciConfig
        default: return nil
        }
        return IORequest(
            space: space, address: addr, size: Int(size),
            direction: dir == Self.dirRead ? .read : .write,
            data: dataIsPtr ? .guestBuffer(data) : .value(data),
            count: count, decrementing: df)
    }

    /// What the server writes back into the ioreq after a read.
    mutating func complete(with request: IORequest) {
        if !dataIsPtr, let value = request.value { data = value }
    }
}

/// A `kvm_run` page pair as KVM maps it: the exit fields, and string-I/O data at
/// `data_offset` (one page in, `KVM_PIO_PAGE_OFFSET`).
final class KVMRunPage {
    static let exitIO: UInt32 = 2         // KVM_EXIT_IO
    static let exitMMIO: UInt32 = 6       // KVM_EXIT_MMIO
    static let ioIn: UInt8 = 0            // KVM_EXIT_IO_IN
    static let ioOut: UInt8 = 1           // KVM_EXIT_IO_OUT
    static let dataOffset = 4096

    let run = UnsafeMutableRawBufferPointer.allocate(byteCount: 8192, alignment: 4096)
    var exitReason: UInt32 = 0
    // io
    var ioDirection: UInt8 = 0
    var ioSize: UInt8 = 0
    var ioPort: UInt16 = 0
    var ioCount: UInt32 = 0
    // mmio
    var mmioPhysAddr: UInt64 = 0
    var mmioData = [UInt8](repeating: 0, count: 8)
    var mmioLen: UInt32 = 0
    var mmioIsWrite = false

    init() { run.initializeMemory(as: UInt8.self, repeating: 0) }
    deinit { run.deallocate() }

    var ioData: UnsafeMutableRawPointer { run.baseAddress! + Self.dataOffset }

    /// What the KVM backend does for this exit: build the request, dispatch, write back.
    func handleExit(on dispatcher: IODispatcher) throws {
        switch exitReason {
        case Self.exitIO:
            let size = Int(ioSize)
            let direction: IODirection = ioDirection == Self.ioIn ? .read : .write
            if ioCount == 1 {
                var value: UInt64 = 0
                withUnsafeMutableBytes(of: &value) { $0.baseAddress!.copyMemory(from: ioData, byteCount: size) }
                var request = IORequest(
                    space: .port, address: UInt64(ioPort), size: size, direction: direction,
                    data: .value(UInt64(littleEndian: value)))
                try dispatcher.dispatch(&request)
                if direction == .read {
                    var le = request.value!.littleEndian
                    withUnsafeBytes(of: &le) { ioData.copyMemory(from: $0.baseAddress!, byteCount: size) }
                }
            } else {
                var request = IORequest(
                    space: .port, address: UInt64(ioPort), size: size, direction: direction,
                    data: .hostBuffer(ioData), count: ioCount)
                try dispatcher.dispatch(&request)
            }
        case Self.exitMMIO:
            let size = Int(mmioLen)
            var value: UInt64 = 0
            for i in 0..<size { value |= UInt64(mmioData[i]) << UInt64(8 * i) }
            var request = IORequest(
                space: .memory, address: mmioPhysAddr, size: size,
                direction: mmioIsWrite ? .write : .read, data: .value(value))
            try dispatcher.dispatch(&request)
            if !mmioIsWrite {
                let result = request.value!
                for i in 0..<size { mmioData[i] = UInt8(truncatingIfNeeded: result >> UInt64(8 * i)) }
            }
        default:
            Issue.record("unexpected exit reason \(exitReason)")
        }
    }
}

@Suite("IORequest mapping from Xen and KVM accesses")
struct IORequestMappingTests {
    /// `rep outsw` of four words to port 0x1F0: Xen hands a PIO ioreq with `data_is_ptr`
    /// pointing at the guest's buffer, KVM a `KVM_EXIT_IO` with the words in `kvm_run`.
    @Test func repOutsFromXenAndKVMReachTheHandlerIdentically() throws {
        let words: [UInt16] = [0x1122, 0x3344, 0x5566, 0x7788]
        let bytes = words.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8($0 >> 8)] }

        // Xen
        let xenMachine = try SimulatedMachine()
        let xenDevice = CountingFIFO()
        try xenMachine.dispatcher.ports.register(base: 0x1F0, length: 8, name: "ata", handler: xenDevice)
        let buffer = try xenMachine.allocator.allocate(copying: bytes)
        var ioreq = XenIoreq(addr: 0x1F0, data: buffer.address, count: 4, size: 2, dataIsPtr: true,
                             dir: XenIoreq.dirWrite, type: XenIoreq.typePIO)
        var request = try #require(ioreq.request)
        try xenMachine.dispatcher.dispatch(&request, guestMemory: xenMachine.memory)
        ioreq.complete(with: request)

        // KVM
        let kvmDispatcher = IODispatcher()
        let kvmDevice = CountingFIFO()
        try kvmDispatcher.ports.register(base: 0x1F0, length: 8, name: "ata", handler: kvmDevice)
        let page = KVMRunPage()
        page.exitReason = KVMRunPage.exitIO
        page.ioDirection = KVMRunPage.ioOut
        page.ioSize = 2
        page.ioPort = 0x1F0
        page.ioCount = 4
        bytes.withUnsafeBytes { page.ioData.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        try page.handleExit(on: kvmDispatcher)

        let expected = words.map { IOAccess(offset: 0, size: 2, direction: .write, value: UInt64($0)) }
        #expect(xenDevice.accesses.all == expected)
        #expect(kvmDevice.accesses.all == expected)
    }

    /// `rep insb` of five bytes from a FIFO: Xen stores into guest RAM (here with the direction
    /// flag set, so downwards), KVM into its data area (always ascending).
    @Test func repInsFromXenWithDirectionFlagAndKVMReadTheSameSequence() throws {
        let count: UInt32 = 5

        let xenMachine = try SimulatedMachine()
        let xenDevice = CountingFIFO()
        try xenMachine.dispatcher.ports.register(base: 0x60, length: 1, name: "fifo", handler: xenDevice)
        let block = try xenMachine.allocator.allocate(16)
        let last = block.address(at: 10)  // rep ins with DF=1 starts at the highest address
        var ioreq = XenIoreq(addr: 0x60, data: last, count: count, size: 1, dataIsPtr: true,
                             dir: XenIoreq.dirRead, df: true, type: XenIoreq.typePIO)
        var request = try #require(ioreq.request)
        try xenMachine.dispatcher.dispatch(&request, guestMemory: xenMachine.memory)
        ioreq.complete(with: request)
        let stored = try xenMachine.memory.readBytes(at: last - UInt64(count - 1), count: Int(count))

        let kvmDispatcher = IODispatcher()
        let kvmDevice = CountingFIFO()
        try kvmDispatcher.ports.register(base: 0x60, length: 1, name: "fifo", handler: kvmDevice)
        let page = KVMRunPage()
        page.exitReason = KVMRunPage.exitIO
        page.ioDirection = KVMRunPage.ioIn
        page.ioSize = 1
        page.ioPort = 0x60
        page.ioCount = count
        try page.handleExit(on: kvmDispatcher)
        let kvmBytes = (0..<Int(count)).map { page.ioData.load(fromByteOffset: $0, as: UInt8.self) }

        // Five reads of the same port, in the same order, on both.
        #expect(xenDevice.accesses.all == kvmDevice.accesses.all)
        #expect(xenDevice.accesses.count == Int(count))
        #expect(kvmBytes == [0x10, 0x11, 0x12, 0x13, 0x14])
        // Xen stored element i at `last - i`: the buffer reads backwards.
        #expect(stored == kvmBytes.reversed())
        // Bytes around the buffer are untouched.
        #expect(try xenMachine.memory.read(UInt8.self, at: last + 1) == 0)
        #expect(try xenMachine.memory.read(UInt8.self, at: last - UInt64(count)) == 0)
    }

    /// Single port accesses: Xen's inline `data`, KVM's `count == 1` in the data area.
    @Test func singlePortAccessesMapToTheSameValue() throws {
        let xenDispatcher = IODispatcher()
        let xenDevice = RecordingIOHandler(length: 8)
        try xenDispatcher.ports.register(base: 0x3F8, length: 8, name: "uart", handler: xenDevice)
        xenDevice.poke(at: 5, size: 1, value: 0x60)
        var out = XenIoreq(addr: 0x3FB, data: 0x83, size: 1, dir: XenIoreq.dirWrite, type: XenIoreq.typePIO)
        var outRequest = try #require(out.request)
        try xenDispatcher.dispatch(&outRequest)
        out.complete(with: outRequest)
        var inb = XenIoreq(addr: 0x3FD, data: 0, size: 1, dir: XenIoreq.dirRead, type: XenIoreq.typePIO)
        var inRequest = try #require(inb.request)
        try xenDispatcher.dispatch(&inRequest)
        inb.complete(with: inRequest)

        let kvmDispatcher = IODispatcher()
        let kvmDevice = RecordingIOHandler(length: 8)
        try kvmDispatcher.ports.register(base: 0x3F8, length: 8, name: "uart", handler: kvmDevice)
        kvmDevice.poke(at: 5, size: 1, value: 0x60)
        let page = KVMRunPage()
        page.exitReason = KVMRunPage.exitIO
        page.ioDirection = KVMRunPage.ioOut
        page.ioSize = 1
        page.ioPort = 0x3FB
        page.ioCount = 1
        page.ioData.storeBytes(of: 0x83, as: UInt8.self)
        try page.handleExit(on: kvmDispatcher)
        page.ioDirection = KVMRunPage.ioIn
        page.ioPort = 0x3FD
        try page.handleExit(on: kvmDispatcher)

        #expect(inb.data == 0x60)
        #expect(page.ioData.load(as: UInt8.self) == 0x60)
        #expect(xenDevice.accesses.all == kvmDevice.accesses.all)
        #expect(xenDevice.accesses.all == [
            IOAccess(offset: 3, size: 1, direction: .write, value: 0x83),
            IOAccess(offset: 5, size: 1, direction: .read, value: 0x60),
        ])
    }

    /// MMIO: Xen's `IOREQ_TYPE_COPY` with an inline value, KVM's `KVM_EXIT_MMIO`.
    @Test func singleMMIOAccessesMapToTheSameValue() throws {
        let base: UInt64 = 0xFEB0_0000
        let xenDispatcher = IODispatcher()
        let xenDevice = RecordingIOHandler(length: 0x100)
        try xenDispatcher.memory.register(base: base, length: 0x100, name: "bar0", handler: xenDevice)
        var store = XenIoreq(addr: base + 0x20, data: 0x0123_4567_89AB_CDEF, size: 8,
                             dir: XenIoreq.dirWrite, type: XenIoreq.typeCopy)
        var storeRequest = try #require(store.request)
        try xenDispatcher.dispatch(&storeRequest)
        store.complete(with: storeRequest)
        var load = XenIoreq(addr: base + 0x24, data: 0, size: 4, dir: XenIoreq.dirRead, type: XenIoreq.typeCopy)
        var loadRequest = try #require(load.request)
        try xenDispatcher.dispatch(&loadRequest)
        load.complete(with: loadRequest)

        let kvmDispatcher = IODispatcher()
        let kvmDevice = RecordingIOHandler(length: 0x100)
        try kvmDispatcher.memory.register(base: base, length: 0x100, name: "bar0", handler: kvmDevice)
        let page = KVMRunPage()
        page.exitReason = KVMRunPage.exitMMIO
        page.mmioPhysAddr = base + 0x20
        page.mmioLen = 8
        page.mmioIsWrite = true
        page.mmioData = [0xEF, 0xCD, 0xAB, 0x89, 0x67, 0x45, 0x23, 0x01]
        try page.handleExit(on: kvmDispatcher)
        page.mmioPhysAddr = base + 0x24
        page.mmioLen = 4
        page.mmioIsWrite = false
        page.mmioData = [UInt8](repeating: 0, count: 8)
        try page.handleExit(on: kvmDispatcher)

        #expect(load.data == 0x0123_4567)
        #expect(Array(page.mmioData[0..<4]) == [0x67, 0x45, 0x23, 0x01])
        #expect(xenDevice.accesses.all == kvmDevice.accesses.all)
    }

    /// `rep movsd` to MMIO: Xen sends one COPY ioreq with `data_is_ptr` and a count; KVM
    /// emulates the string instruction and exits once per element. Same handler results,
    /// addresses stepping down with the direction flag on Xen.
    @Test func repMovsToMMIOMatchesKVMPerElementExits() throws {
        let base: UInt64 = 0xE000_0000
        let values: [UInt32] = [0xAAAA_0001, 0xBBBB_0002, 0xCCCC_0003]

        let xenMachine = try SimulatedMachine()
        let xenDevice = RecordingIOHandler(length: 0x40)
        try xenMachine.dispatcher.memory.register(base: base, length: 0x40, name: "fb", handler: xenDevice)
        let source = try xenMachine.allocator.allocate(12, alignment: 4)
        // With DF=1, element i is at source + 8 - 4i and goes to (base + 0x18) - 4i.
        for (i, v) in values.enumerated() { try xenMachine.memory.write(v, at: source.address(at: 8 - 4 * i)) }
        var ioreq = XenIoreq(addr: base + 0x18, data: source.address(at: 8), count: 3, size: 4,
                             dataIsPtr: true, dir: XenIoreq.dirWrite, df: true, type: XenIoreq.typeCopy)
        var request = try #require(ioreq.request)
        try xenMachine.dispatcher.dispatch(&request, guestMemory: xenMachine.memory)
        ioreq.complete(with: request)

        let kvmDispatcher = IODispatcher()
        let kvmDevice = RecordingIOHandler(length: 0x40)
        try kvmDispatcher.memory.register(base: base, length: 0x40, name: "fb", handler: kvmDevice)
        let page = KVMRunPage()
        for (i, v) in values.enumerated() {
            page.exitReason = KVMRunPage.exitMMIO
            page.mmioPhysAddr = base + 0x18 - UInt64(4 * i)
            page.mmioLen = 4
            page.mmioIsWrite = true
            page.mmioData = withUnsafeBytes(of: v.littleEndian) { Array($0) } + [0, 0, 0, 0]
            try page.handleExit(on: kvmDispatcher)
        }

        let expected = values.enumerated().map {
            IOAccess(offset: 0x18 - UInt64(4 * $0.offset), size: 4, direction: .write, value: UInt64($0.element))
        }
        #expect(xenDevice.accesses.all == expected)
        #expect(kvmDevice.accesses.all == expected)
    }

    /// `IOREQ_TYPE_PCI_CONFIG`: the address carries SBDF in bits 63:32 and the register below.
    @Test func xenPCIConfigAddressReachesTheFunctionAtItsRegisterOffset() throws {
        let dispatcher = IODispatcher()
        let function = RecordingIOHandler(length: 4096)
        // Segment 0, bus 0, device 3, function 1.
        let sbdf: UInt32 = (0 << 16) | (0 << 8) | (3 << 3) | 1
        try dispatcher.pciConfig.register(base: UInt64(sbdf) << 32, length: 4096, name: "00:03.1", handler: function)
        function.poke(at: 0, size: 4, value: 0x1041_1AF4)

        var read = XenIoreq(addr: UInt64(sbdf) << 32 | 0x0, data: 0, size: 4,
                            dir: XenIoreq.dirRead, type: XenIoreq.typePCIConfig)
        var request = try #require(read.request)
        try dispatcher.dispatch(&request)
        read.complete(with: request)
        #expect(read.data == 0x1041_1AF4)

        var write = XenIoreq(addr: UInt64(sbdf) << 32 | 0x104, data: 0xFFFF_FFFF, size: 4,
                             dir: XenIoreq.dirWrite, type: XenIoreq.typePCIConfig)
        var writeRequest = try #require(write.request)
        try dispatcher.dispatch(&writeRequest)
        write.complete(with: writeRequest)
        #expect(function.accesses.last == IOAccess(offset: 0x104, size: 4, direction: .write, value: 0xFFFF_FFFF))

        // Another function on the same device is a different range: unmapped here.
        var other = XenIoreq(addr: UInt64(sbdf + 1) << 32, data: 0, size: 2,
                             dir: XenIoreq.dirRead, type: XenIoreq.typePCIConfig)
        var otherRequest = try #require(other.request)
        try dispatcher.dispatch(&otherRequest)
        other.complete(with: otherRequest)
        #expect(other.data == 0xFFFF)

        // The simulated vCPU builds the same address.
        #expect(SimulatedVCPU.pciConfigAddress(sbdf: sbdf, register: 0x104) == UInt64(sbdf) << 32 | 0x104)
    }

    /// A Xen PIO ioreq with `count > 1` but no pointer repeats the same access; a read leaves
    /// the last value (QEMU's `cpu_ioreq_pio`).
    @Test func xenRepeatedInlineValueRepeatsTheAccess() throws {
        let dispatcher = IODispatcher()
        let device = CountingFIFO(start: 1, step: 1)
        try dispatcher.ports.register(base: 0x80, length: 1, name: "fifo", handler: device)
        var read = XenIoreq(addr: 0x80, data: 0, count: 3, size: 1, dir: XenIoreq.dirRead, type: XenIoreq.typePIO)
        var request = try #require(read.request)
        try dispatcher.dispatch(&request)
        read.complete(with: request)
        #expect(read.data == 3)
        #expect(device.accesses.count == 3)

        let write = XenIoreq(addr: 0x80, data: 0x5A, count: 2, size: 1, dir: XenIoreq.dirWrite, type: XenIoreq.typePIO)
        var writeRequest = try #require(write.request)
        try dispatcher.dispatch(&writeRequest)
        #expect(device.accesses.all.suffix(2) == [
            IOAccess(offset: 0, size: 1, direction: .write, value: 0x5A),
            IOAccess(offset: 0, size: 1, direction: .write, value: 0x5A),
        ])
    }

    /// Xen types that are not accesses have no `IORequest`.
    @Test func nonAccessIoreqTypesAreNotRequests() {
        let invalidate = XenIoreq(addr: 0, data: 0, size: 0, dir: 0, type: 8)  // IOREQ_TYPE_INVALIDATE
        #expect(invalidate.request == nil)
    }
}
