import Virtio

/// Why a virtio-gpu device could not be created.
public enum VirtioGPUError: Error, Equatable, CustomStringConvertible {
    /// Not 1...16 scanouts.
    case invalidScanoutCount(Int)
    /// A scanout side outside `16...maximum` (4095 with EDID: a detailed timing's limit).
    case invalidScanoutSize(index: Int, width: Int, height: Int, maximum: Int)
    /// `maxHostMemory` is not positive.
    case invalidMaxHostMemory(Int)
    /// A queue size that is not a power of two in 1...32768.
    case invalidQueueSize(UInt16)
    /// The display has fewer surfaces than the device has scanouts.
    case tooFewSurfaces(scanouts: Int, surfaces: Int)
    /// The device's I/O thread could not start.
    case runtime(VirtioDeviceError)

    public var description: String {
        switch self {
        case .invalidScanoutCount(let n): "virtio-gpu needs 1...16 scanouts, not \(n)"
        case .invalidScanoutSize(let i, let w, let h, let m):
            "virtio-gpu scanout \(i) size \(w)x\(h) is outside 16...\(m) on a side"
        case .invalidMaxHostMemory(let m): "virtio-gpu host memory limit \(m) must be positive"
        case .invalidQueueSize(let s): "virtio-gpu queue size \(s) is not a power of two in 1...32768"
        case .tooFewSurfaces(let s, let n): "virtio-gpu has \(s) scanouts but the display only \(n) surfaces"
        case .runtime(let e): "virtio-gpu: \(e)"
        }
    }
}
