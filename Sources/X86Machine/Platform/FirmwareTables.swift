import DeviceModel

/// The tables a directly booted kernel finds instead of firmware: ACPI at 0xE0000 and the MP
/// table at 0xF0000, both inside the e820-reserved BIOS area.
///
/// With firmware (`--firmware`), the firmware builds its own tables and these are not written.
public struct FirmwareTables: Sendable {
    public let acpi: ACPITables
    public let mp: MPTable

    public init(platform: X86PlatformDescription) throws(ACPITableError) {
        acpi = try ACPITables(platform: platform)
        mp = MPTable(platform: platform)
    }

    /// The RSDP's address, for ``LinuxLoader/load(kernel:initrd:commandLine:layout:acpiRSDPAddress:into:)``.
    public var rsdpAddress: UInt64 { acpi.rsdpAddress }

    /// Writes both into guest RAM.
    public func write(to memory: any GuestMemory) throws(GuestMemoryError) {
        try acpi.write(to: memory)
        try mp.write(to: memory)
    }
}
