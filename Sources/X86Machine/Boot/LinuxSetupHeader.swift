/// The real-mode setup header of a bzImage (`struct setup_header`, Documentation/arch/x86/boot.rst,
/// "The Real-Mode Kernel Header"), parsed and checked.
///
/// Fields a protocol version predates hold the defaults the boot protocol specifies.
public struct LinuxSetupHeader: Sendable, Hashable {
    /// File offset of the header (`boot_params.hdr`).
    public static let offset = 0x1F1
    /// The oldest boot protocol accepted: 2.06 adds `cmdline_size`.
    public static let minimumVersion: UInt16 = 0x0206
    /// `"HdrS"` little-endian.
    public static let magic: UInt32 = 0x5372_6448
    /// End of `struct setup_header` in boot_params as of protocol 2.15 (`kernel_info_offset`).
    static let maximumEnd = 0x26C

    /// loadflags bits.
    public static let loadedHigh: UInt8 = 0x01
    public static let canUseHeap: UInt8 = 0x80
    /// xloadflags bits.
    public static let xlfKernel64: UInt16 = 0x0001
    public static let xlfCanBeLoadedAbove4G: UInt16 = 0x0002

    /// Number of 512-byte setup sectors (0 in the file means 4).
    public let setupSectors: Int
    public let rootFlags: UInt16
    /// Size of the protected-mode code in 16-byte paragraphs.
    public let sysSize: UInt32
    public let videoMode: UInt16
    public let rootDevice: UInt16
    public let bootFlag: UInt16
    /// Boot protocol version, e.g. 0x020F for 2.15.
    public let version: UInt16
    public let kernelVersionOffset: UInt16
    public let loadFlags: UInt8
    public let code32Start: UInt32
    /// Highest address an initrd may occupy (inclusive).
    public let initrdAddressMax: UInt32
    public let kernelAlignment: UInt32
    public let relocatable: Bool
    public let minimumAlignment: UInt8
    public let xloadflags: UInt16
    /// Maximum command line length, excluding the terminating NUL.
    public let commandLineSize: UInt32
    public let payloadOffset: UInt32
    public let payloadLength: UInt32
    /// Preferred load address of a relocatable kernel.
    public let preferredAddress: UInt64
    /// Bytes of memory the kernel needs from its load address to decompress and start.
    public let initSize: UInt32
    public let handoverOffset: UInt32
    /// The header bytes from offset 0x1F1 to the end the header's jump declares; copied
    /// verbatim into `boot_params.hdr`.
    public let rawBytes: [UInt8]

    /// Parses the header of `image` (the whole bzImage, or at least its first 0x1000 bytes).
    public init(image: [UInt8]) throws(LinuxBootError) {
        let r = LittleEndianReader(bytes: image)
        guard image.count >= 0x202 + 4, let bootFlag = r.u16(0x1FE), let jumpOffset = r.u8(0x201) else {
            throw .imageTooSmall(size: image.count)
        }
        guard bootFlag == 0xAA55 else { throw .badBootFlag(bootFlag) }
        let magic = r.u32(0x202) ?? 0
        guard magic == Self.magic else { throw .missingHeaderMagic(magic) }
        let headerEnd = min(0x202 + Int(jumpOffset), Self.maximumEnd)
        guard let version = r.u16(0x206), image.count >= headerEnd, headerEnd >= 0x23C else {
            throw .imageTooSmall(size: image.count)
        }
        guard version >= Self.minimumVersion else { throw .protocolTooOld(version: version, minimum: Self.minimumVersion) }

        func field<T: FixedWidthInteger>(_ offset: Int, _ read: (Int) -> T?, since: UInt16, default value: T) -> T {
            guard version >= since, offset + T.bitWidth / 8 <= headerEnd, let v = read(offset) else { return value }
            return v
        }

        let sectors = Int(image[0x1F1])
        self.setupSectors = sectors == 0 ? 4 : sectors
        self.rootFlags = r.u16(0x1F2) ?? 0
        self.sysSize = r.u32(0x1F4) ?? 0
        self.videoMode = r.u16(0x1FA) ?? 0
        self.rootDevice = r.u16(0x1FC) ?? 0
        self.bootFlag = bootFlag
        self.version = version
        self.kernelVersionOffset = r.u16(0x20E) ?? 0
        self.loadFlags = image[0x211]
        self.code32Start = r.u32(0x214) ?? 0
        self.initrdAddressMax = field(0x22C, r.u32, since: 0x0203, default: 0x37FF_FFFF)
        self.kernelAlignment = field(0x230, r.u32, since: 0x0205, default: 0)
        self.relocatable = field(0x234, r.u8, since: 0x0205, default: 0) != 0
        self.minimumAlignment = field(0x235, r.u8, since: 0x020A, default: 0)
        self.xloadflags = field(0x236, r.u16, since: 0x020C, default: 0)
        self.commandLineSize = field(0x238, r.u32, since: 0x0206, default: 255)
        self.payloadOffset = field(0x248, r.u32, since: 0x0208, default: 0)
        self.payloadLength = field(0x24C, r.u32, since: 0x0208, default: 0)
        self.preferredAddress = field(0x258, r.u64, since: 0x020A, default: 0x10_0000)
        self.initSize = field(0x260, r.u32, since: 0x020A, default: 0)
        self.handoverOffset = field(0x264, r.u32, since: 0x020B, default: 0)
        self.rawBytes = Array(image[Self.offset..<headerEnd])
        guard loadFlags & Self.loadedHigh != 0 else { throw .notBzImage(loadFlags: loadFlags) }
    }

    /// True when the kernel has a 64-bit entry point (`startup_64`, 0x200 past the load address).
    public var has64BitEntry: Bool { xloadflags & Self.xlfKernel64 != 0 }

    /// File offset of the protected-mode kernel.
    public var protectedModeOffset: Int { (setupSectors + 1) * 512 }

    /// The version string the header points at, if any (e.g. "6.1.0-26-cloud-amd64 (…) #1 SMP …").
    public func kernelVersionString(in image: [UInt8]) -> String? {
        guard kernelVersionOffset != 0 else { return nil }
        let start = Int(kernelVersionOffset) + 0x200
        guard start < image.count else { return nil }
        let end = image[start...].prefix(256).firstIndex(of: 0) ?? min(start + 256, image.count)
        return String(decoding: image[start..<end], as: UTF8.self)
    }
}
