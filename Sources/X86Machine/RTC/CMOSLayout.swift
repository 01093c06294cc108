/// CMOS RAM indexes of the MC146818 RTC and of the PC/Bochs BIOS fields that firmware reads
/// (the same locations QEMU's `pc_cmos_init` fills and SeaBIOS's `qemu_preinit` and
/// `qemu_get_present_cpus_count` read).
enum CMOSIndex {
    static let seconds: UInt8 = 0x00
    static let secondsAlarm: UInt8 = 0x01
    static let minutes: UInt8 = 0x02
    static let minutesAlarm: UInt8 = 0x03
    static let hours: UInt8 = 0x04
    static let hoursAlarm: UInt8 = 0x05
    static let weekday: UInt8 = 0x06
    static let dayOfMonth: UInt8 = 0x07
    static let month: UInt8 = 0x08
    static let year: UInt8 = 0x09
    static let statusA: UInt8 = 0x0A
    static let statusB: UInt8 = 0x0B
    static let statusC: UInt8 = 0x0C
    static let statusD: UInt8 = 0x0D
    static let shutdownStatus: UInt8 = 0x0F
    static let equipment: UInt8 = 0x14
    /// Base memory in KiB (max 640), low/high byte.
    static let baseMemoryLow: UInt8 = 0x15
    static let baseMemoryHigh: UInt8 = 0x16
    /// Memory above 1 MiB in KiB (max 65535), low/high byte; mirrored at 0x30/0x31.
    static let extendedMemoryLow: UInt8 = 0x17
    static let extendedMemoryHigh: UInt8 = 0x18
    /// Checksum (big-endian) of indexes 0x10...0x2D.
    static let checksumHigh: UInt8 = 0x2E
    static let checksumLow: UInt8 = 0x2F
    static let extendedMemoryCopyLow: UInt8 = 0x30
    static let extendedMemoryCopyHigh: UInt8 = 0x31
    /// BCD century; the FADT `CENTURY` field points here.
    static let century: UInt8 = 0x32
    /// Memory between 16 MiB and 4 GiB in 64 KiB units (max 65535), low/high byte.
    static let memoryAbove16MiBLow: UInt8 = 0x34
    static let memoryAbove16MiBHigh: UInt8 = 0x35
    /// Memory above 4 GiB in 64 KiB units, 24 bits.
    static let memoryAbove4GiBLow: UInt8 = 0x5B
    static let memoryAbove4GiBMiddle: UInt8 = 0x5C
    static let memoryAbove4GiBHigh: UInt8 = 0x5D
    /// Number of CPUs minus one (SeaBIOS `CMOS_BIOS_SMP_COUNT`).
    static let cpuCountMinusOne: UInt8 = 0x5F
}

/// Status register bits (MC146818A data sheet, "Register A/B/C/D").
enum RTCStatus {
    static let updateInProgress: UInt8 = 0x80        // A: UIP
    static let dividerMask: UInt8 = 0x70             // A: DV2..DV0
    static let dividerNormal: UInt8 = 0x20           // A: 32.768 kHz time base, running
    static let set: UInt8 = 0x80                     // B: SET halts updates
    static let updateEndedInterruptEnable: UInt8 = 0x10  // B: UIE
    /// B: PIE, AIE, UIE and SQWE, which the RESET pin clears.
    static let resetClearedEnables: UInt8 = 0x40 | 0x20 | 0x10 | 0x08
    static let binaryMode: UInt8 = 0x04              // B: DM (1 = binary, 0 = BCD)
    static let twentyFourHour: UInt8 = 0x02          // B: 24/12
    static let updateEndedFlag: UInt8 = 0x10         // C: UF
    static let validRAMAndTime: UInt8 = 0x80         // D: VRT
    /// How long before each update UIP is set (244 µs with a 32.768 kHz time base).
    static let updateInProgressNanoseconds: Int64 = 244_000
}
