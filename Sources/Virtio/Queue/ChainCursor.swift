import DeviceModel

/// Errors from reading or writing a chain's buffers.
public enum ChainAccessError: Error, Equatable, CustomStringConvertible {
    /// The request needs more bytes than the chain's buffers hold.
    case shortChain(needed: Int, available: Int)
    case memory(GuestMemoryError)

    public var description: String {
        switch self {
        case .shortChain(let n, let a): "descriptor chain too short: need \(n) bytes, have \(a)"
        case .memory(let e): "chain buffer: \(e)"
        }
    }
}

/// A position in a list of guest buffers treated as one byte stream; shared by
/// ``ChainReader`` and ``ChainWriter``.
struct GuestBufferStream {
    let buffers: [GuestBuffer]
    private var index = 0
    private var offset: UInt32 = 0
    /// Bytes after the current position.
    private(set) var remaining: Int

    init(_ buffers: [GuestBuffer]) {
        self.buffers = buffers
        self.remaining = buffers.reduce(0) { $0 + Int($1.length) }
    }

    /// Walks the next `count` bytes piece by piece (one piece per buffer touched), calling
    /// `body(guestAddress, bytesDone, pieceLength)`, then moves past them.
    mutating func consume(
        _ count: Int, _ body: (UInt64, Int, Int) throws(ChainAccessError) -> Void
    ) throws(ChainAccessError) {
        guard count <= remaining else { throw .shortChain(needed: count, available: remaining) }
        var done = 0
        while done < count {
            let b = buffers[index]
            let n = min(Int(b.length - offset), count - done)
            try body(b.address + UInt64(offset), done, n)
            offset += UInt32(n)
            remaining -= n
            done += n
            while index < buffers.count && offset == buffers[index].length {
                index += 1
                offset = 0
            }
        }
    }

    /// The next `count` bytes as guest buffers (for zero-copy iovecs), moving past them.
    mutating func take(_ count: Int) throws(ChainAccessError) -> GuestBufferRun {
        let (first, start) = (index, offset)
        try consume(count) { _, _, _ in }
        return GuestBufferRun(buffers: buffers, first: first, offset: start, byteCount: count)
    }
}

/// Reads a chain's device-readable buffers front to back as one byte stream.
public struct ChainReader {
    public let memory: any GuestMemory
    private var stream: GuestBufferStream
    /// Bytes not yet consumed.
    public var remaining: Int { stream.remaining }

    public init(memory: any GuestMemory, buffers: [GuestBuffer]) {
        self.memory = memory
        self.stream = GuestBufferStream(buffers)
    }

    /// Reads exactly `count` bytes.
    public mutating func read(count: Int) throws(ChainAccessError) -> [UInt8] {
        guard count <= remaining else { throw .shortChain(needed: count, available: remaining) }
        var out = [UInt8](repeating: 0, count: count)
        var this = self
        let result = out.withUnsafeMutableBytes { p in
            Result { () throws(ChainAccessError) in try this.read(into: p) }
        }
        try result.get()
        self = this
        return out
    }

    /// Fills `buffer` from the stream.
    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(ChainAccessError) {
        let memory = self.memory
        try stream.consume(buffer.count) { (address, done, n) throws(ChainAccessError) in
            do throws(GuestMemoryError) {
                try memory.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done..<done + n]), from: address)
            } catch { throw .memory(error) }
        }
    }

    /// Reads a little-endian integer.
    public mutating func read<T: FixedWidthInteger>(_ type: T.Type) throws(ChainAccessError) -> T {
        var v: T = 0
        try withUnsafeMutableBytes(of: &v) { (p: UnsafeMutableRawBufferPointer) throws(ChainAccessError) in try read(into: p) }
        return T(littleEndian: v)
    }

    /// Skips `count` bytes.
    public mutating func skip(_ count: Int) throws(ChainAccessError) {
        try stream.consume(count) { _, _, _ in }
    }

    /// The next `count` bytes as guest buffers (for zero-copy `pwritev`), consuming them.
    /// Copies no buffer list.
    public mutating func takeBuffers(count: Int) throws(ChainAccessError) -> GuestBufferRun {
        try stream.take(count)
    }
}

/// Writes a chain's device-writable buffers front to back as one byte stream, counting
/// the bytes written for the used ring's `len`.
public struct ChainWriter {
    public let memory: any GuestMemory
    private var stream: GuestBufferStream
    /// Bytes still writable.
    public var remaining: Int { stream.remaining }
    /// Bytes written so far (the used element's `len`).
    public private(set) var bytesWritten: Int = 0

    public init(memory: any GuestMemory, buffers: [GuestBuffer]) {
        self.memory = memory
        self.stream = GuestBufferStream(buffers)
    }

    /// Writes all of `bytes`.
    public mutating func write(_ bytes: UnsafeRawBufferPointer) throws(ChainAccessError) {
        let memory = self.memory
        try stream.consume(bytes.count) { (address, done, n) throws(ChainAccessError) in
            do throws(GuestMemoryError) {
                try memory.write(UnsafeRawBufferPointer(rebasing: bytes[done..<done + n]), to: address)
            } catch { throw .memory(error) }
        }
        bytesWritten += bytes.count
    }

    /// Writes `bytes`.
    public mutating func write(_ bytes: [UInt8]) throws(ChainAccessError) {
        var this = self
        let result = bytes.withUnsafeBytes { p in
            Result { () throws(ChainAccessError) in try this.write(p) }
        }
        try result.get()
        self = this
    }

    /// Writes a little-endian integer.
    public mutating func write<T: FixedWidthInteger>(_ value: T) throws(ChainAccessError) {
        var v = value.littleEndian
        try withUnsafeBytes(of: &v) { (p: UnsafeRawBufferPointer) throws(ChainAccessError) in try write(p) }
    }

    /// The next `count` writable bytes as guest buffers (for zero-copy `preadv`), counting
    /// them as written. Copies no buffer list.
    public mutating func takeBuffers(count: Int) throws(ChainAccessError) -> GuestBufferRun {
        let taken = try stream.take(count)
        bytesWritten += count
        return taken
    }
}
