import Display

/// A rectangle as the guest sends it: four unsigned 32-bit values, checked before use.
struct GPURect: CustomStringConvertible {
    var x: UInt32
    var y: UInt32
    var width: UInt32
    var height: UInt32

    /// True when the rectangle lies inside `width × height` (QEMU's checks, in 64-bit
    /// arithmetic so no sum wraps).
    func fits(width w: Int, height h: Int) -> Bool {
        Int(x) + Int(width) <= w && Int(y) + Int(height) <= h
    }

    var displayRect: DisplayRect { DisplayRect(x: Int(x), y: Int(y), width: Int(width), height: Int(height)) }

    var description: String { "\(width)x\(height)+\(x)+\(y)" }
}
