import DeviceModel

/// Why a kernel, initrd or command line cannot be booted (Linux boot protocol,
/// Documentation/arch/x86/boot.rst).
public enum LinuxBootError: Error, Equatable, CustomStringConvertible {
    case fileUnreadable(path: String, errno: Int32)
    /// The path names something other than a regular file (`kind`: "FIFO", "directory", …),
    /// found without reading it, so a FIFO cannot block the loader.
    case notRegularFile(path: String, kind: String)
    /// The file is larger than any kernel or initrd this loader places (checked with `fstat`
    /// before a byte is read, so a huge sparse file is not read into memory).
    case fileTooLarge(path: String, size: Int64, maximum: Int)
    case imageTooSmall(size: Int)
    case badBootFlag(UInt16)
    case missingHeaderMagic(UInt32)
    case protocolTooOld(version: UInt16, minimum: UInt16)
    case notBzImage(loadFlags: UInt8)
    case no64BitEntry(version: UInt16, xloadflags: UInt16)
    case truncatedKernel(setupBytes: Int, fileSize: Int)
    case kernelDoesNotFit(end: UInt64, ramEnd: UInt64)
    case initrdDoesNotFit(size: Int, lowest: UInt64, highest: UInt64)
    case commandLineTooLong(length: Int, maximum: Int)
    case commandLineContainsNUL
    case tooManyE820Entries(Int, maximum: Int)
    case guestMemory(GuestMemoryError)

    public var description: String {
        switch self {
        case .fileUnreadable(let path, let errno):
            "cannot read \(path) (errno \(errno))"
        case .notRegularFile(let path, let kind):
            "\(path) is a \(kind), not a regular file"
        case .fileTooLarge(let path, let size, let maximum):
            "\(path) has \(size) bytes; at most \(maximum) can be loaded"
        case .imageTooSmall(let size):
            "kernel image of \(size) bytes is too small to hold a setup header"
        case .badBootFlag(let flag):
            "kernel image boot flag is 0x\(String(flag, radix: 16)), expected 0xaa55"
        case .missingHeaderMagic(let magic):
            "kernel image has no \"HdrS\" setup header (found 0x\(String(magic, radix: 16)) at 0x202)"
        case .protocolTooOld(let version, let minimum):
            "kernel boot protocol \(Self.versionString(version)) is older than the required \(Self.versionString(minimum))"
        case .notBzImage(let flags):
            "kernel image is not a bzImage (loadflags 0x\(String(flags, radix: 16)) lack LOADED_HIGH)"
        case .no64BitEntry(let version, let xloadflags):
            "kernel (boot protocol \(Self.versionString(version)), xloadflags 0x\(String(xloadflags, radix: 16))) has no 64-bit entry point"
        case .truncatedKernel(let setupBytes, let fileSize):
            "kernel image of \(fileSize) bytes ends inside its \(setupBytes)-byte setup code"
        case .kernelDoesNotFit(let end, let ramEnd):
            "kernel needs memory up to 0x\(String(end, radix: 16)) but low RAM ends at 0x\(String(ramEnd, radix: 16))"
        case .initrdDoesNotFit(let size, let lowest, let highest):
            "initrd of \(size) bytes does not fit between 0x\(String(lowest, radix: 16)) and 0x\(String(highest, radix: 16))"
        case .commandLineTooLong(let length, let maximum):
            "kernel command line of \(length) bytes exceeds the kernel's limit of \(maximum)"
        case .commandLineContainsNUL:
            "kernel command line contains a NUL byte"
        case .tooManyE820Entries(let n, let maximum):
            "e820 map has \(n) entries; boot_params holds at most \(maximum)"
        case .guestMemory(let e):
            "writing boot data to guest memory: \(e)"
        }
    }

    static func versionString(_ v: UInt16) -> String { "\(v >> 8).\(String(format2: v & 0xFF))" }
}

extension String {
    /// Two-digit decimal, as boot protocol minor versions are written ("2.06").
    init(format2 value: UInt16) {
        self = value < 10 ? "0\(value)" : "\(value)"
    }
}
