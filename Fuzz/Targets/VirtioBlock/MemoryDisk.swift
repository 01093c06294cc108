import HostIO
import Synchronization

/// A disk image in memory for the block fuzz target: no system calls, so the target runs the
/// device's request parsing as fast as its threads allow, and the image can be compared
/// before and after every request.
final class MemoryDisk: BlockBackend, @unchecked Sendable {
    // SAFETY (@unchecked): `image` is only touched under `lock`.
    let capacity: UInt64
    let isReadOnly: Bool
    private let lock = Mutex(())
    private var image: [UInt8]

    init(sectors: Int, readOnly: Bool) {
        capacity = UInt64(sectors * 512)
        isReadOnly = readOnly
        image = (0..<sectors * 512).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ $0 >> 9) }
    }

    /// The image as it is now.
    var contents: [UInt8] { lock.withLock { _ in image } }

    private func check(_ offset: UInt64, _ length: Int, _ operation: String) throws(BlockBackendError) {
        let (end, overflow) = offset.addingReportingOverflow(UInt64(length))
        guard !overflow, end <= capacity else { throw .io(operation: operation, offset: offset, errno: 22) }
    }

    func read(into buffers: [UnsafeMutableRawBufferPointer], at offset: UInt64) throws(BlockBackendError) {
        try check(offset, buffers.reduce(0) { $0 + $1.count }, "read")
        lock.withLock { _ in
            var at = Int(offset)
            for b in buffers where b.count > 0 {
                image.withUnsafeBytes { b.baseAddress!.copyMemory(from: $0.baseAddress! + at, byteCount: b.count) }
                at += b.count
            }
        }
    }

    func write(from buffers: [UnsafeMutableRawBufferPointer], at offset: UInt64) throws(BlockBackendError) {
        guard !isReadOnly else { throw .io(operation: "write", offset: offset, errno: 30) }
        try check(offset, buffers.reduce(0) { $0 + $1.count }, "write")
        lock.withLock { _ in
            var at = Int(offset)
            for b in buffers {
                for byte in b { image[at] = byte; at += 1 }
            }
        }
    }

    func flush() throws(BlockBackendError) {}

    func discard(offset: UInt64, length: UInt64) throws(BlockBackendError) {
        try writeZeroes(offset: offset, length: length, mayUnmap: true)
    }

    func writeZeroes(offset: UInt64, length: UInt64, mayUnmap: Bool) throws(BlockBackendError) {
        guard !isReadOnly else { throw .io(operation: "write zeroes", offset: offset, errno: 30) }
        try check(offset, Int(clamping: length), "write zeroes")
        lock.withLock { _ in
            for i in Int(offset)..<Int(offset + length) { image[i] = 0 }
        }
    }
}
