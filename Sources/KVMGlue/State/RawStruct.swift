/// Kernel structs as the bytes a snapshot stores, and back.
///
/// The structs of `<linux/kvm.h>` are plain C data (`BitwiseCopyable`): any byte pattern of the
/// right length is a value of the type. Whether the kernel accepts the value is the kernel's to
/// say when it is set; a wrong length is refused here.
enum RawStruct {
    /// The bytes of `value`, exactly `MemoryLayout<T>.size` of them.
    static func bytes<T: BitwiseCopyable>(of value: T) -> [UInt8] {
        withUnsafeBytes(of: value) { Array($0) }
    }

    /// The value whose bytes are `bytes`; nil unless there are exactly `MemoryLayout<T>.size`.
    static func load<T: BitwiseCopyable>(_ type: T.Type, from bytes: [UInt8]) -> T? {
        guard bytes.count == MemoryLayout<T>.size else { return nil }
        // SAFETY: the length matches and every bit pattern is a valid C struct of plain integers.
        return bytes.withUnsafeBytes { $0.loadUnaligned(as: T.self) }
    }

    /// The little-endian u32 at `offset` of `bytes` (0 beyond the end).
    static func u32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        guard offset >= 0, offset + 4 <= bytes.count else { return 0 }
        return (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) }
    }

    /// The little-endian u64 at `offset` of `bytes` (0 beyond the end).
    static func u64(_ bytes: [UInt8], at offset: Int) -> UInt64 {
        UInt64(u32(bytes, at: offset)) | UInt64(u32(bytes, at: offset + 4)) << 32
    }
}
