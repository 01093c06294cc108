import DeviceModel

/// A BIOS-style firmware image (e.g. SeaBIOS's `bios.bin`) and where it goes in guest-physical
/// space.
///
/// x86 starts at the reset vector `0xFFFFFFF0` (``X86CPUState/resetVector``), 16 bytes below
/// 4 GiB, so the image is placed to end at 4 GiB (``highRange``), inside the firmware flash
/// area of ``X86MemoryLayout``. Legacy firmware then jumps to `F000:xxxx`, i.e. below 1 MiB,
/// where PC chipsets alias the image's last 128 KiB (QEMU's `isa-bios` region):
/// ``writeLegacyCopy(to:)`` copies that part to ``legacyRange``, ending at 1 MiB, in RAM.
/// SeaBIOS "unlocks" that shadow RAM through the host bridge's PAM registers and copies
/// itself there anyway, so RAM (not ROM) is what it expects to find.
///
/// A backend maps ``bytes`` read-only at ``highRange``; the legacy copy is ordinary guest RAM.
public struct FirmwareImage: Sendable {
    /// Largest image accepted: the whole flash area `[0xFF000000, 4 GiB)`.
    public static let maximumSize = Int(X86MemoryLayout.fourGiB - X86MemoryLayout.firmwareAreaStart)
    /// The part of the image aliased below 1 MiB.
    public static let legacyWindowSize = 128 << 10

    /// Where the image came from (for messages).
    public let name: String
    public let bytes: [UInt8]

    /// Wraps an image already in memory. Fails when empty or larger than ``maximumSize``.
    public init(bytes: [UInt8], name: String) throws(FirmwareImageError) {
        guard !bytes.isEmpty else { throw .empty(name: name) }
        guard bytes.count <= Self.maximumSize else {
            throw .tooLarge(name: name, size: Int64(bytes.count), maximum: Self.maximumSize)
        }
        self.name = name
        self.bytes = bytes
    }

    /// Reads the image at `path` (a regular file of at most ``maximumSize`` bytes).
    public init(path: String) throws(FirmwareImageError) {
        let bytes: [UInt8]
        do {
            bytes = try FileContents.read(path: path, maximumSize: Self.maximumSize)
        } catch {
            switch error {
            case .systemError(let e): throw .unreadable(path: path, errno: e)
            case .notRegularFile: throw .notRegularFile(path: path)
            case .tooLarge(let size, let maximum): throw .tooLarge(name: path, size: size, maximum: maximum)
            }
        }
        try self.init(bytes: bytes, name: path)
    }

    /// The guest-physical range the full image occupies, ending at 4 GiB.
    public var highRange: AddressRange {
        // Non-empty and at most 16 MiB (checked in init), so the range is valid.
        AddressRange(base: X86MemoryLayout.fourGiB - UInt64(bytes.count), length: UInt64(bytes.count))!
    }

    /// The guest-physical range the legacy copy occupies, ending at 1 MiB
    /// (0xE0000–0xFFFFF for images of 128 KiB or more).
    public var legacyRange: AddressRange {
        let n = UInt64(min(bytes.count, Self.legacyWindowSize))
        return AddressRange(base: X86MemoryLayout.extendedMemoryStart - n, length: n)!
    }

    /// The image's last ``legacyWindowSize`` bytes (all of it when smaller).
    public var legacyBytes: ArraySlice<UInt8> { bytes.suffix(Self.legacyWindowSize) }

    /// Copies ``legacyBytes`` to ``legacyRange`` in guest RAM.
    public func writeLegacyCopy(to memory: any GuestMemory) throws(FirmwareImageError) {
        do {
            try memory.writeBytes(legacyBytes, at: legacyRange.base)
        } catch {
            throw .legacyCopyFailed(name: name, range: legacyRange, error)
        }
    }
}
