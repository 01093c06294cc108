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

/// Reads a chain's device-readable buffers front to back as one byte stream.
public struct ChainReader {
    public let memory: any GuestMemory
    private let buffers: [GuestBuffer]
    private var index = 0
    private var offset: UInt32 = 0
    /// Bytes not yet consumed.
    public private(set) var remaining: Int

    public init(memory: any GuestMemory, buffers: [GuestBuffer]) {
        self.memory = memory
        self.buffers = buffers
        self.remaining = buffers.reduce(0) { $0 + Int($1.length) }
    }

    /// Reads exactly `count` bytes.
    public mutating func read(count: Int) throws(ChainAccessError) -> [UInt8] {
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
        guard buffer.count <= remaining else { throw .shortChain(needed: buffer.count, available: remaining) }
        var done = 0
        while done < buffer.count {
            let b = buffers[index]
            let n = min(Int(b.length - offset), buffer.count - done)
            do {
                try memory.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done..<done + n]),
                                from: b.address + UInt64(offset))
            } catch { throw .memory(error) }
            advance(n)
            done += n
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
        guard count <= remaining else { throw .shortChain(needed: count, available: remaining) }
        var left = count
        while left > 0 {
            let n = min(Int(buffers[index].length - offset), left)
            advance(n)
            left -= n
        }
    }

    /// The unread part of the stream as guest buffers (for zero-copy `pwritev`), consuming it.
    public mutating func takeBuffers(count: Int) throws(ChainAccessError) -> [GuestBuffer] {
        guard count <= remaining else { throw .shortChain(needed: count, available: remaining) }
        var out: [GuestBuffer] = []
        var left = count
        while left > 0 {
            let b = buffers[index]
            let n = min(Int(b.length - offset), left)
            out.append(GuestBuffer(address: b.address + UInt64(offset), length: UInt32(n)))
            advance(n)
            left -= n
        }
        return out
    }

    private mutating func advance(_ n: Int) {
        offset += UInt32(n)
        remaining -= n
        while index < buffers.count && offset == buffers[index].length {
            index += 1
            offset = 0
        }
    }
}

/// Writes a chain's device-writable buffers front to back as one byte stream, counting
/// the bytes written for the used ring's `len`.
public struct ChainWriter {
    public let memory: any GuestMemory
    private let buffers: [GuestBuffer]
    private var index = 0
    private var offset: UInt32 = 0
    /// Bytes still writable.
    public private(set) var remaining: Int
    /// Bytes written so far (the used element's `len`).
    public private(set) var bytesWritten: Int = 0

    public init(memory: any GuestMemory, buffers: [GuestBuffer]) {
        self.memory = memory
        self.buffers = buffers
        self.remaining = buffers.reduce(0) { $0 + Int($1.length) }
    }

    /// Writes all of `bytes`.
    public mutating func write(_ bytes: UnsafeRawBufferPointer) throws(ChainAccessError) {
        guard bytes.count <= remaining else { throw .shortChain(needed: bytes.count, available: remaining) }
        var done = 0
        while done < bytes.count {
            let b = buffers[index]
            let n = min(Int(b.length - offset), bytes.count - done)
            do {
                try memory.write(UnsafeRawBufferPointer(rebasing: bytes[done..<done + n]), to: b.address + UInt64(offset))
            } catch { throw .memory(error) }
            advance(n)
            done += n
        }
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

    /// The unwritten part as guest buffers (for zero-copy `preadv`), counting them as written.
    public mutating func takeBuffers(count: Int) throws(ChainAccessError) -> [GuestBuffer] {
        guard count <= remaining else { throw .shortChain(needed: count, available: remaining) }
        var out: [GuestBuffer] = []
        var left = count
        while left > 0 {
            let b = buffers[index]
            let n = min(Int(b.length - offset), left)
            out.append(GuestBuffer(address: b.address + UInt64(offset), length: UInt32(n)))
            advance(n)
            left -= n
        }
        return out
    }

    private mutating func advance(_ n: Int) {
        offset += UInt32(n)
        remaining -= n
        bytesWritten += n
        while index < buffers.count && offset == buffers[index].length {
            index += 1
            offset = 0
        }
    }
}
