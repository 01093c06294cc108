import CDeviceModelShims
import DeviceModel
#if canImport(Glibc)
import Glibc
#endif

/// A BIOS-style firmware image (e.g. SeaBIOS's `bios.bin`) to be mapped below 4 GiB.
///
/// x86 starts at the reset vector `0xFFFFFFF0`, 16 bytes below 4 GiB, so the image is placed
/// to end at 4 GiB. Legacy firmware then jumps to `F000:xxxx`, i.e. below 1 MiB, where PC
/// chipsets alias the image's last 128 KiB (QEMU's `isa-bios` region): ``load(into:ram:)``
/// copies that part to `[1 MiB - min(size, 128 KiB), 1 MiB)` of RAM. SeaBIOS "unlocks" that
/// shadow RAM through the host bridge's PAM registers and copies itself there anyway.
public struct FirmwareImage: Sendable {
    /// Largest image accepted: the ROM window `[0xFF000000, 4 GiB)`, which ends above
    /// KVM's TSS pages (``KVMVirtualMachine/reservedRange``).
    public static let maximumSize = 16 << 20
    /// The part of the image aliased below 1 MiB.
    public static let legacyWindowSize = 128 << 10

    /// Where the image came from (for messages).
    public let name: String
    public let bytes: [UInt8]

    /// Wraps an image already in memory. Fails when empty or larger than ``maximumSize``.
    public init(bytes: [UInt8], name: String) throws(KVMError) {
        guard !bytes.isEmpty else { throw .invalidFirmware(path: name, reason: "the image is empty") }
        guard bytes.count <= Self.maximumSize else {
            throw .invalidFirmware(path: name, reason: "\(bytes.count) bytes exceed the 16 MiB ROM window")
        }
        self.name = name
        self.bytes = bytes
    }

    /// Reads the image at `path`.
    public init(path: String) throws(KVMError) {
        let fd = swiftdm_open(path, O_RDONLY | O_CLOEXEC, 0)
        guard fd >= 0 else { throw .invalidFirmware(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .invalidFirmware(path: path, reason: String(cString: strerror(errno))) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw .invalidFirmware(path: path, reason: "not a regular file") }
        guard st.st_size <= Self.maximumSize else {
            throw .invalidFirmware(path: path, reason: "\(st.st_size) bytes exceed the 16 MiB ROM window")
        }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw .invalidFirmware(path: path, reason: n == 0 ? "file shrank while reading" : String(cString: strerror(errno))) }
            done += n
        }
        try self.init(bytes: bytes, name: path)
    }

    /// The guest-physical range the full image occupies (ending at 4 GiB).
    public var highRange: AddressRange {
        AddressRange(base: GuestRAMLayout.fourGiB - UInt64(bytes.count), length: UInt64(bytes.count))!
    }

    /// The guest-physical range the legacy alias occupies (ending at 1 MiB).
    public var legacyRange: AddressRange {
        let n = min(bytes.count, Self.legacyWindowSize)
        return AddressRange(base: 0x10_0000 - UInt64(n), length: UInt64(n))!
    }

    /// Maps the image read-only so it ends at 4 GiB and copies its tail below 1 MiB into `ram`.
    /// Keep the returned mapping alive while the VM runs.
    public func load(into vm: KVMVirtualMachine, ram: any GuestMemory) throws(KVMError) -> ROMMapping {
        let rom = try vm.mapROM(bytes, endingAt: GuestRAMLayout.fourGiB)
        let legacy = legacyRange
        do {
            try ram.writeBytes(bytes.suffix(Int(legacy.length)), at: legacy.base)
        } catch {
            throw .invalidFirmware(path: name, reason: "cannot copy its last \(legacy.length) bytes to \(legacy): \(error)")
        }
        return rom
    }
}
