/// Configuration mechanism #1 (PCI Local Bus 3.0 §3.2.2.3.2) at ports 0xCF8–0xCFF.
///
/// 0xCF8 is the dword CONFIG_ADDRESS register: bit 31 enable, bits 23:16 bus, 15:11 device,
/// 10:8 function, 7:2 register; bits 30:24 and 1:0 are reserved and read as zero. Only dword
/// accesses reach it; other widths there pass through as ordinary I/O (so the reset control
/// register at 0xCF9, when the machine has one, gets byte accesses). 0xCFC–0xCFF is
/// CONFIG_DATA: an access of `n` bytes at `0xCFC + k` hits register `(address & 0xFC) + k`
/// while the enable bit is set; otherwise it reads all ones and writes are dropped.
final class PCIConfigMechanism1: IOHandler {
    weak let bridge: PCIHostBridge?
    /// Byte accesses at 0xCF9 (PIIX/ICH reset control), if the machine provides it.
    let resetControl: (any IOHandler)?

    init(bridge: PCIHostBridge, resetControl: (any IOHandler)?) {
        self.bridge = bridge
        self.resetControl = resetControl
    }

    func read(at offset: UInt64, size: Int) -> UInt64 {
        guard let bridge else { return IORequest.mask(forSize: size) }
        switch (offset, size) {
        case (0, 4):
            return UInt64(bridge.configAddress)
        case (1, 1):
            return resetControl?.read(at: 0, size: 1) ?? 0xFF
        case (4...7, _) where Int(offset - 4) + size <= 4:
            return UInt64(bridge.configDataRead(byte: Int(offset - 4), size: size))
        default:
            return IORequest.mask(forSize: size)
        }
    }

    func write(at offset: UInt64, size: Int, value: UInt64) {
        guard let bridge else { return }
        switch (offset, size) {
        case (0, 4):
            bridge.configAddress = UInt32(truncatingIfNeeded: value)
        case (1, 1):
            resetControl?.write(at: 0, size: 1, value: value)
        case (4...7, _) where Int(offset - 4) + size <= 4:
            bridge.configDataWrite(byte: Int(offset - 4), size: size, value: UInt32(truncatingIfNeeded: value))
        default:
            break
        }
    }
}
