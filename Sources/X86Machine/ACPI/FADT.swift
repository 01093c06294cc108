/// The Fixed ACPI Description Table, revision 6 (ACPI 6.5 §5.2.9), for a PC with the ACPI
/// fixed hardware of ``ACPIPowerManagement`` (not hardware-reduced, so Linux powers off via
/// `_S5` and PM1a_CNT), the reset register at port 0xCF9, the RTC century at CMOS 0x32, and
/// no SMI command port (always in ACPI mode).
enum FADT {
    static let size = 276

    /// Flags (ACPI 6.5 table 5.10).
    enum Flag {
        static let wbinvd: UInt32 = 1 << 0
        static let processorC1: UInt32 = 1 << 2
        static let sleepButtonIsControlMethod: UInt32 = 1 << 5  // i.e. no fixed sleep button
        static let resetRegisterSupported: UInt32 = 1 << 10
    }

    /// IA-PC boot architecture flags (ACPI 6.5 table 5.11).
    enum BootArchitecture {
        static let legacyDevices: UInt16 = 1 << 0
        /// Not set: with no 8042 announced, Linux skips probing the keyboard controller (it
        /// still resets through port 0x64).
        static let i8042: UInt16 = 1 << 1
        static let vgaNotPresent: UInt16 = 1 << 2
        static let pcieASPMControls: UInt16 = 1 << 4
    }

    static func make(facsAddress: UInt64, dsdtAddress: UInt64, pmBase: UInt16) -> [UInt8] {
        let eventBlock = pmBase + ACPIPowerManagement.eventBlockOffset
        let controlBlock = pmBase + ACPIPowerManagement.controlBlockOffset
        let timerBlock = pmBase + ACPIPowerManagement.timerOffset

        var w = LittleEndianWriter()
        w.u32(UInt32(truncatingIfNeeded: facsAddress))  // FIRMWARE_CTRL (X_FIRMWARE_CTRL stays 0)
        w.u32(UInt32(truncatingIfNeeded: dsdtAddress))  // DSDT
        w.u8(0)   // reserved (INT_MODEL in ACPI 1.0)
        w.u8(0)   // Preferred_PM_Profile: unspecified
        w.u16(UInt16(ACPIPowerManagement.sciInterrupt))  // SCI_INT
        w.u32(0)  // SMI_CMD: none, ACPI mode is always on
        w.u8(0)   // ACPI_ENABLE
        w.u8(0)   // ACPI_DISABLE
        w.u8(0)   // S4BIOS_REQ
        w.u8(0)   // PSTATE_CNT
        w.u32(UInt32(eventBlock))    // PM1a_EVT_BLK
        w.u32(0)                     // PM1b_EVT_BLK
        w.u32(UInt32(controlBlock))  // PM1a_CNT_BLK
        w.u32(0)                     // PM1b_CNT_BLK
        w.u32(0)                     // PM2_CNT_BLK
        w.u32(UInt32(timerBlock))    // PM_TMR_BLK
        w.u32(0)                     // GPE0_BLK
        w.u32(0)                     // GPE1_BLK
        w.u8(4)   // PM1_EVT_LEN
        w.u8(2)   // PM1_CNT_LEN
        w.u8(0)   // PM2_CNT_LEN
        w.u8(4)   // PM_TMR_LEN
        w.u8(0)   // GPE0_BLK_LEN
        w.u8(0)   // GPE1_BLK_LEN
        w.u8(0)   // GPE1_BASE
        w.u8(0)   // CST_CNT
        w.u16(0x0FFF)  // P_LVL2_LAT > 100: C2 not supported
        w.u16(0x0FFF)  // P_LVL3_LAT > 1000: C3 not supported
        w.u16(0)  // FLUSH_SIZE
        w.u16(0)  // FLUSH_STRIDE
        w.u8(0)   // DUTY_OFFSET
        w.u8(0)   // DUTY_WIDTH
        w.u8(0)   // DAY_ALRM
        w.u8(0)   // MON_ALRM
        w.u8(CMOSIndex.century)  // CENTURY
        w.u16(BootArchitecture.legacyDevices | BootArchitecture.vgaNotPresent | BootArchitecture.pcieASPMControls)
        w.u8(0)   // reserved
        w.u32(Flag.wbinvd | Flag.processorC1 | Flag.sleepButtonIsControlMethod | Flag.resetRegisterSupported)
        GenericAddress.io(UInt16(ResetControlRegister.portAddress), bytes: 1, access: .byte).write(to: &w)  // RESET_REG
        w.u8(ResetControlRegister.resetValue)  // RESET_VALUE
        w.u16(0)  // ARM_BOOT_ARCH
        w.u8(5)   // FADT minor version (ACPI 6.5)
        w.u64(0)  // X_FIRMWARE_CTRL
        w.u64(dsdtAddress)  // X_DSDT
        GenericAddress.io(eventBlock, bytes: 4, access: .word).write(to: &w)    // X_PM1a_EVT_BLK
        GenericAddress.zero.write(to: &w)                                       // X_PM1b_EVT_BLK
        GenericAddress.io(controlBlock, bytes: 2, access: .word).write(to: &w)  // X_PM1a_CNT_BLK
        GenericAddress.zero.write(to: &w)                                       // X_PM1b_CNT_BLK
        GenericAddress.zero.write(to: &w)                                       // X_PM2_CNT_BLK
        GenericAddress.io(timerBlock, bytes: 4, access: .dword).write(to: &w)   // X_PM_TMR_BLK
        GenericAddress.zero.write(to: &w)                                       // X_GPE0_BLK
        GenericAddress.zero.write(to: &w)                                       // X_GPE1_BLK
        GenericAddress.zero.write(to: &w)                                       // SLEEP_CONTROL_REG
        GenericAddress.zero.write(to: &w)                                       // SLEEP_STATUS_REG
        w.u64(0)  // hypervisor vendor identity
        let table = SystemDescriptionTable.make(signature: "FACP", revision: 6, body: w.bytes)
        assert(table.count == size)
        return table
    }
}
