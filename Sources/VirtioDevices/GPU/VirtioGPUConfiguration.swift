/// Settings for a ``VirtioGPUDevice`` (virtio 1.2 §5.7).
public struct VirtioGPUConfiguration: Sendable {
    /// One scanout's preferred size, as `GET_DISPLAY_INFO` and the EDID report it.
    public struct Scanout: Sendable, Hashable {
        public var width: Int
        public var height: Int
        public init(width: Int, height: Int) {
            self.width = width
            self.height = height
        }
    }

    /// The scanouts (1...16), each with its preferred size.
    public var scanouts: [Scanout]
    /// The most host memory the guest's resources may take, in bytes (QEMU's `max_hostmem`,
    /// same default). Display surfaces of enabled scanouts count too (see ``VirtioGPUDevice``).
    public var maxHostMemory: Int
    /// Offer `VIRTIO_GPU_F_EDID`.
    public var edid: Bool
    /// Maximum size of the control queue (QEMU: 256).
    public var controlQueueSize: UInt16
    /// Maximum size of the cursor queue (QEMU: 16).
    public var cursorQueueSize: UInt16

    /// Smallest scanout side: `SET_SCANOUT` refuses rectangles under 16 pixels (as QEMU).
    public static let minimumScanoutSide = 16
    /// Largest scanout side an EDID detailed timing can describe (12 bits).
    public static let maximumEDIDScanoutSide = 4095

    public init(scanouts: [(width: Int, height: Int)] = [(1024, 768)], maxHostMemory: Int = 256 << 20,
                edid: Bool = true, controlQueueSize: UInt16 = 256, cursorQueueSize: UInt16 = 16) {
        self.scanouts = scanouts.map { Scanout(width: $0.width, height: $0.height) }
        self.maxHostMemory = maxHostMemory
        self.edid = edid
        self.controlQueueSize = controlQueueSize
        self.cursorQueueSize = cursorQueueSize
    }

    /// Checks every setting; the error names the offending value.
    public func validate() throws(VirtioGPUError) {
        guard (1...VirtioGPUProtocol.maximumScanouts).contains(scanouts.count) else {
            throw .invalidScanoutCount(scanouts.count)
        }
        let maxSide = edid ? Self.maximumEDIDScanoutSide : 16384
        for (i, s) in scanouts.enumerated() {
            let sides = Self.minimumScanoutSide...maxSide
            guard sides.contains(s.width), sides.contains(s.height) else {
                throw .invalidScanoutSize(index: i, width: s.width, height: s.height, maximum: maxSide)
            }
        }
        guard maxHostMemory > 0 else { throw .invalidMaxHostMemory(maxHostMemory) }
        for q in [controlQueueSize, cursorQueueSize] {
            guard q > 0, q <= 32768, q & (q - 1) == 0 else { throw .invalidQueueSize(q) }
        }
    }
}
