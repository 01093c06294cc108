/// Register offsets of the virtio-mmio transport (virtio 1.2 §4.2.2 table "MMIO Device
/// Register Layout", and §4.2.4 for the legacy version-1 registers).
enum VirtioMMIORegister {
    static let magicValue: UInt64 = 0x000
    static let version: UInt64 = 0x004
    static let deviceID: UInt64 = 0x008
    static let vendorID: UInt64 = 0x00C
    static let deviceFeatures: UInt64 = 0x010
    static let deviceFeaturesSel: UInt64 = 0x014
    static let driverFeatures: UInt64 = 0x020
    static let driverFeaturesSel: UInt64 = 0x024
    /// Legacy only.
    static let guestPageSize: UInt64 = 0x028
    static let queueSel: UInt64 = 0x030
    static let queueNumMax: UInt64 = 0x034
    static let queueNum: UInt64 = 0x038
    /// Legacy only.
    static let queueAlign: UInt64 = 0x03C
    /// Legacy only.
    static let queuePFN: UInt64 = 0x040
    static let queueReady: UInt64 = 0x044
    static let queueNotify: UInt64 = 0x050
    static let interruptStatus: UInt64 = 0x060
    static let interruptACK: UInt64 = 0x064
    static let status: UInt64 = 0x070
    static let queueDescLow: UInt64 = 0x080
    static let queueDescHigh: UInt64 = 0x084
    static let queueDriverLow: UInt64 = 0x090
    static let queueDriverHigh: UInt64 = 0x094
    static let queueDeviceLow: UInt64 = 0x0A0
    static let queueDeviceHigh: UInt64 = 0x0A4
    static let shmSel: UInt64 = 0x0AC
    static let shmLenLow: UInt64 = 0x0B0
    static let shmLenHigh: UInt64 = 0x0B4
    static let shmBaseLow: UInt64 = 0x0B8
    static let shmBaseHigh: UInt64 = 0x0BC
    static let configGeneration: UInt64 = 0x0FC
    static let config: UInt64 = 0x100

    /// "virt" in little-endian.
    static let magic: UInt32 = 0x7472_6976
    /// `InterruptStatus` bits.
    static let interruptUsedBuffer: UInt32 = 1 << 0
    static let interruptConfigChange: UInt32 = 1 << 1
}
