import CPixman
import Glibc

/// A 32-bit image in host memory, on pixman: display surfaces, virtio-gpu resources and
/// cursors are all one of these. It owns its pixels (zeroed at creation, rows of
/// `width × 4` bytes). Not synchronised: its owner (a surface behind its lock, a device on its
/// queue thread) decides who touches it.
public final class PixelImage: @unchecked Sendable {
    /// The largest width or height accepted: 16384, as virtio-gpu's and QEMU's limits go.
    public static let maximumDimension = 16384

    public let width: Int
    public let height: Int
    public let format: PixelFormat
    /// Bytes from one row to the next.
    public let stride: Int
    /// `stride × height`.
    public var byteCount: Int { stride * height }
    /// The whole image as a rectangle.
    public var bounds: DisplayRect { DisplayRect(width: width, height: height) }

    let pixman: OpaquePointer
    private let bits: UnsafeMutableRawPointer

    /// A zeroed `width × height` image in `format`.
    public init(width: Int, height: Int, format: PixelFormat) throws(DisplayError) {
        guard (1...Self.maximumDimension).contains(width), (1...Self.maximumDimension).contains(height) else {
            throw .invalidSize(width: width, height: height)
        }
        let stride = width * PixelFormat.bytesPerPixel
        let bytes = stride * height
        guard let bits = calloc(1, bytes) else { throw .outOfMemory(bytes: bytes) }
        guard let image = pixman_image_create_bits(format.pixman, Int32(width), Int32(height),
                                                   bits.assumingMemoryBound(to: UInt32.self), Int32(stride)) else {
            free(bits)
            throw .outOfMemory(bytes: bytes)
        }
        self.width = width
        self.height = height
        self.format = format
        self.stride = stride
        self.bits = bits
        self.pixman = image
    }

    deinit {
        pixman_image_unref(pixman)
        free(bits)
    }

    /// Copies `rect` of `source` (converting its format) to this image with its top left at
    /// (`x`, `y`); parts outside either image are left out. Returns the rectangle written here.
    @discardableResult
    public func copy(from source: PixelImage, rect: DisplayRect, toX x: Int, y: Int) -> DisplayRect {
        var src = rect.intersection(source.bounds)
        // Shift the destination by what clipping took off the source's top left.
        var dst = DisplayRect(x: x + (src.x - rect.x), y: y + (src.y - rect.y), width: src.width, height: src.height)
        let clipped = dst.intersection(bounds)
        src = DisplayRect(x: src.x + (clipped.x - dst.x), y: src.y + (clipped.y - dst.y), width: clipped.width, height: clipped.height)
        dst = clipped
        guard !dst.isEmpty else { return dst }
        pixman_image_composite32(PIXMAN_OP_SRC, source.pixman, nil, pixman,
                                 Int32(src.x), Int32(src.y), 0, 0, Int32(dst.x), Int32(dst.y),
                                 Int32(dst.width), Int32(dst.height))
        return dst
    }

    /// Fills `rect` (clipped to the image) with `pixel`, a value in this image's format.
    public func fill(_ rect: DisplayRect, pixel: UInt32) {
        let r = rect.intersection(bounds)
        guard !r.isEmpty else { return }
        for row in r.y..<r.maxY {
            let line = (bits + row * stride).assumingMemoryBound(to: UInt32.self)
            for col in r.x..<r.maxX { line[col] = pixel.littleEndian }
        }
    }

    /// The pixel at (`x`, `y`) as stored (a little-endian 32-bit word in ``format``), or nil
    /// outside the image.
    public func pixel(x: Int, y: Int) -> UInt32? {
        guard x >= 0, y >= 0, x < width, y < height else { return nil }
        return UInt32(littleEndian: (bits + y * stride + x * 4).loadUnaligned(as: UInt32.self))
    }

    /// The image's bytes, read-only.
    public func withBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: bits, count: byteCount))
    }

    /// The image's bytes, writable.
    public func withMutableBytes<R, E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeMutableRawBufferPointer(start: bits, count: byteCount))
    }

    /// A copy of this image converted to `format`.
    public func converted(to format: PixelFormat) throws(DisplayError) -> PixelImage {
        let copy = try PixelImage(width: width, height: height, format: format)
        copy.copy(from: self, rect: bounds, toX: 0, y: 0)
        return copy
    }
}
