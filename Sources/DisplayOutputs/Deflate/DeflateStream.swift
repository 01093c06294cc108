import CZlib

/// Why zlib refused to compress.
struct DeflateError: Error, CustomStringConvertible {
    var call: String
    var code: Int32
    var description: String { "zlib \(call) returned \(code)" }
}

/// One zlib (RFC 1950) deflate stream. ZRLE keeps one per client for the whole connection
/// (RFC 6143 §7.7.6: the client's inflater carries its dictionary from rectangle to
/// rectangle); a PNG's IDAT is one finished stream. Not thread-safe: one owner.
final class DeflateStream {
    // zlib keeps pointers into the z_stream, so it lives at a fixed address.
    private let stream: UnsafeMutablePointer<z_stream>
    private var chunk = [UInt8](repeating: 0, count: 64 * 1024)

    /// A stream compressing at `level` (0...9).
    init(level: Int32) throws(DeflateError) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        // deflateInit is a macro over deflateInit_, which checks the header's version and
        // the struct size against the library's.
        let rc = deflateInit_(stream, level, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else {
            stream.deallocate()
            throw DeflateError(call: "deflateInit", code: rc)
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deallocate()
    }

    /// Compresses `input` and appends the output to `out`: `Z_SYNC_FLUSH` ends on a byte
    /// boundary with everything so far decodable (one ZRLE rectangle), `Z_FINISH` ends the
    /// stream.
    func compress(_ input: UnsafeRawBufferPointer, flush: Int32, into out: inout [UInt8]) throws(DeflateError) {
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(input.count)
        while true {
            let (rc, produced) = chunk.withUnsafeMutableBufferPointer { buf -> (Int32, Int) in
                stream.pointee.next_out = buf.baseAddress
                stream.pointee.avail_out = uInt(buf.count)
                let rc = deflate(stream, flush)
                return (rc, buf.count - Int(stream.pointee.avail_out))
            }
            guard rc == Z_OK || rc == Z_STREAM_END || (rc == Z_BUF_ERROR && produced == 0) else {
                throw DeflateError(call: "deflate", code: rc)
            }
            out.append(contentsOf: chunk[0..<produced])
            if rc == Z_STREAM_END { break }
            // Done when zlib had room left over: all input consumed and flushed.
            if stream.pointee.avail_out != 0 && stream.pointee.avail_in == 0 { break }
        }
        stream.pointee.next_in = nil
    }

    /// ``compress(_:flush:into:)`` on an array.
    func compress(_ input: [UInt8], flush: Int32, into out: inout [UInt8]) throws(DeflateError) {
        var result: Result<Void, DeflateError> = .success(())
        input.withUnsafeBytes { b in
            do throws(DeflateError) { try compress(b, flush: flush, into: &out) } catch { result = .failure(error) }
        }
        try result.get()
    }
}
