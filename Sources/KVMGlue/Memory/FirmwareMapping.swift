import X86Machine

extension KVMVirtualMachine {
    /// Maps `image` read-only where X86Machine places it: ending at 4 GiB
    /// (``X86Machine/FirmwareImage/highRange``), under the reset vector.
    ///
    /// Only the ROM slot is KVM's business; the copy of the image's tail below 1 MiB is plain
    /// guest RAM, written with ``X86Machine/FirmwareImage/writeLegacyCopy(to:)``. Keep the
    /// returned mapping alive while the VM runs.
    public func mapFirmware(_ image: FirmwareImage) throws(KVMError) -> ROMMapping {
        try mapROM(image.bytes, endingAt: image.highRange.last + 1)
    }
}
