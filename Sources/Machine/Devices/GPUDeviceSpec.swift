import Display
import VirtioDevices

/// A virtio-gpu 2D display: `--gpu [width=W][,height=H][,scanouts=N][,max_hostmem=SIZE][,edid=on|off][,transport=…]`,
/// or `virtio-gpu,…` through `--device`. Its scanouts draw into the machine's ``Display/GuestDisplay``.
public struct GPUDeviceSpec: Hashable, Sendable, CustomStringConvertible {
    static let syntax = "[width=W][,height=H][,scanouts=1-16][,max_hostmem=SIZE][,edid=on|off][,transport=pci|pci-transitional|mmio]"
    /// The mode a scanout offers when no size is given: 1024×768, QEMU's default.
    public static let defaultSize = (width: 1024, height: 768)
    /// The most scanouts virtio-gpu defines (`VIRTIO_GPU_MAX_SCANOUTS`).
    public static let maximumScanouts = 16

    public var width: Int
    public var height: Int
    public var scanouts: Int
    /// Host memory the guest's resources may take (`max_hostmem`, QEMU's default 256 MiB).
    public var maxHostMemory: UInt64
    public var edid: Bool
    public var transport: VirtioTransportKind?

    public init(width: Int = defaultSize.width, height: Int = defaultSize.height, scanouts: Int = 1,
                maxHostMemory: UInt64 = 256 << 20, edid: Bool = true, transport: VirtioTransportKind? = nil) {
        self.width = width
        self.height = height
        self.scanouts = scanouts
        self.maxHostMemory = maxHostMemory
        self.edid = edid
        self.transport = transport
    }

    init(options: [DeviceOptionList.Field], text: String, option: String) throws(DeviceSpecError) {
        self.init()
        func dimension(_ key: String, _ value: String) throws(DeviceSpecError) -> Int {
            guard let n = Int(value), (1...PixelImage.maximumDimension).contains(n) else {
                throw DeviceSpecError(option: "\(option) \(key)", value: value, expected: "expected 1 to \(PixelImage.maximumDimension) pixels")
            }
            return n
        }
        for field in options where !(field.key.isEmpty && field.value == nil) {
            switch (field.key, field.value) {
            case ("width", let value?), ("xres", let value?): width = try dimension("width", value)
            case ("height", let value?), ("yres", let value?): height = try dimension("height", value)
            case ("scanouts", let value?), ("max_outputs", let value?):
                guard let n = Int(value), (1...Self.maximumScanouts).contains(n) else {
                    throw DeviceSpecError(option: "\(option) scanouts", value: value, expected: "expected 1 to \(Self.maximumScanouts)")
                }
                scanouts = n
            case ("max_hostmem", let value?):
                do throws(MachineError) {
                    maxHostMemory = try MemorySize(parsing: value, option: "\(option) max_hostmem").bytes
                } catch {
                    throw DeviceSpecError(option: "\(option) max_hostmem", value: value, expected: "expected a size such as 256M")
                }
            case ("edid", let value):
                edid = try OnOffValue.parse(value, option: "\(option) edid")
            case ("transport", let value?):
                transport = try VirtioTransportKind(parsing: value, option: "\(option) transport")
            default:
                throw DeviceSpecError(option: option, value: text,
                                      expected: "unknown gpu option '\(field.key)' (width, height, scanouts, max_hostmem, edid, transport)")
            }
        }
    }

    public var description: String {
        "virtio-gpu \(width)x\(height)" + (scanouts > 1 ? " ×\(scanouts) scanouts" : "")
    }

    func makeDevice(_ context: DeviceBuildContext) throws -> VirtioGPUDevice {
        guard let display = context.display else { throw MachineError.setupFailed("virtio-gpu needs the machine's display") }
        let configuration = VirtioGPUConfiguration(
            scanouts: Array(repeating: (width: width, height: height), count: scanouts), maxHostMemory: Int(clamping: maxHostMemory), edid: edid)
        return try VirtioGPUDevice(configuration: configuration, display: display, name: "virtio-gpu\(context.index)", logger: context.logger)
    }
}
