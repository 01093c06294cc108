import CPixman

/// The 32-bit pixel layouts images use, in pixman's naming: channels from the most to the
/// least significant byte of a little-endian 32-bit word (so `x8r8g8b8` is B, G, R, X in memory).
public enum PixelFormat: Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case x8r8g8b8, a8r8g8b8, b8g8r8x8, b8g8r8a8, x8b8g8r8, a8b8g8r8, r8g8b8x8, r8g8b8a8

    /// Bytes per pixel (all formats here are 32-bit).
    public static let bytesPerPixel = 4

    var pixman: pixman_format_code_t {
        switch self {
        case .x8r8g8b8: PIXMAN_x8r8g8b8
        case .a8r8g8b8: PIXMAN_a8r8g8b8
        case .b8g8r8x8: PIXMAN_b8g8r8x8
        case .b8g8r8a8: PIXMAN_b8g8r8a8
        case .x8b8g8r8: PIXMAN_x8b8g8r8
        case .a8b8g8r8: PIXMAN_a8b8g8r8
        case .r8g8b8x8: PIXMAN_r8g8b8x8
        case .r8g8b8a8: PIXMAN_r8g8b8a8
        }
    }

    public var description: String {
        switch self {
        case .x8r8g8b8: "x8r8g8b8"
        case .a8r8g8b8: "a8r8g8b8"
        case .b8g8r8x8: "b8g8r8x8"
        case .b8g8r8a8: "b8g8r8a8"
        case .x8b8g8r8: "x8b8g8r8"
        case .a8b8g8r8: "a8b8g8r8"
        case .r8g8b8x8: "r8g8b8x8"
        case .r8g8b8a8: "r8g8b8a8"
        }
    }
}
