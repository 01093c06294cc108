import DeviceModel
import Synchronization
import Testing

@testable import KVMGlue

/// The KVM column of IORequest's mapping table, without a KVM.
struct VCPUExitDecoderTests {
    @Test func singlePortWriteCarriesTheValueInline() {
        var data: [UInt8] = [0x34, 0x12, 0xFF, 0xFF]
        let r = data.withUnsafeMutableBytes {
            VCPUExitDecoder.portRequest(isWrite: true, size: 2, port: 0x1F0, count: 1, data: $0.baseAddress!)
        }
        #expect(r.space == .port && r.address == 0x1F0 && r.size == 2 && r.direction == .write && r.count == 1)
        #expect(r.value == 0x1234)
    }

    @Test func singlePortReadIsWrittenBackLittleEndian() {
        var data = [UInt8](repeating: 0xEE, count: 8)
        data.withUnsafeMutableBytes { buf in
            var r = VCPUExitDecoder.portRequest(isWrite: false, size: 4, port: 0xCFC, count: 1, data: buf.baseAddress!)
            #expect(r.direction == .read && r.value == 0)
            r.data = .value(0x8086_1237)
            VCPUExitDecoder.completePortRead(r, data: buf.baseAddress!)
        }
        #expect(data == [0x37, 0x12, 0x86, 0x80, 0xEE, 0xEE, 0xEE, 0xEE])
    }

    /// String I/O points at the kernel's buffer; the dispatcher fills it ascending.
    @Test func stringPortReadFillsTheHostBuffer() throws {
        final class Counter: IOHandler {
            let next = Atomic<UInt64>(0x10)
            func read(at offset: UInt64, size: Int) -> UInt64 { next.add(1, ordering: .relaxed).oldValue }
            func write(at offset: UInt64, size: Int, value: UInt64) {}
        }
        let dispatcher = IODispatcher()
        try dispatcher.ports.register(base: 0x60, length: 2, name: "counter", handler: Counter())
        var data = [UInt8](repeating: 0, count: 8)
        try data.withUnsafeMutableBytes { buf in
            var r = VCPUExitDecoder.portRequest(isWrite: false, size: 2, port: 0x60, count: 4, data: buf.baseAddress!)
            guard case .hostBuffer(let p) = r.data else {
                Issue.record("expected a host buffer")
                return
            }
            #expect(p == buf.baseAddress!)
            #expect(r.count == 4 && !r.decrementing)
            try dispatcher.handle(&r, vcpu: 0)
        }
        #expect(data == [0x10, 0, 0x11, 0, 0x12, 0, 0x13, 0])
    }

    @Test func mmioAccessesOfOneTwoFourEightBytesAreSingleRequests() {
        for length in [1, 2, 4, 8] {
            var data: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
            let rs = data.withUnsafeMutableBytes {
                VCPUExitDecoder.mmioRequests(address: 0xFEB0_0000, length: length, isWrite: true, data: $0.baseAddress!)
            }
            #expect(rs.count == 1)
            #expect(rs[0].size == length && rs[0].address == 0xFEB0_0000 && rs[0].space == .memory)
            #expect(rs[0].value == 0x0807_0605_0403_0201 & IORequest.mask(forSize: length))
        }
    }

    /// KVM splits page-crossing accesses into fragments such as 3 bytes; they become byte accesses.
    @Test func oddLengthMMIOBecomesByteAccesses() {
        var data: [UInt8] = [0xAA, 0xBB, 0xCC, 0, 0, 0, 0, 0]
        var rs = data.withUnsafeMutableBytes {
            VCPUExitDecoder.mmioRequests(address: 0x1FFD, length: 3, isWrite: true, data: $0.baseAddress!)
        }
        #expect(rs.map(\.address) == [0x1FFD, 0x1FFE, 0x1FFF])
        #expect(rs.map(\.value) == [0xAA, 0xBB, 0xCC])
        #expect(rs.allSatisfy { $0.size == 1 && $0.direction == .write })

        rs = data.withUnsafeMutableBytes {
            VCPUExitDecoder.mmioRequests(address: 0x2000, length: 3, isWrite: false, data: $0.baseAddress!)
        }
        for i in rs.indices { rs[i].data = .value(UInt64(0x11 * (i + 1))) }
        data.withUnsafeMutableBytes { VCPUExitDecoder.completeMMIORead(rs, data: $0.baseAddress!) }
        #expect(data.prefix(3) == [0x11, 0x22, 0x33])
    }

    @Test func impossibleMMIOLengthsProduceNoAccess() {
        var data = [UInt8](repeating: 0, count: 8)
        data.withUnsafeMutableBytes { buf in
            #expect(VCPUExitDecoder.mmioRequests(address: 0, length: 0, isWrite: true, data: buf.baseAddress!).isEmpty)
            #expect(VCPUExitDecoder.mmioRequests(address: 0, length: 16, isWrite: false, data: buf.baseAddress!).isEmpty)
        }
    }
}
