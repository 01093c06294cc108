import DeviceModel

/// Constants and the BAR layout of the virtio-pci transport (virtio 1.2 §4.1).
enum VirtioPCI {
    static let vendorID: UInt16 = 0x1AF4
    /// Modern device IDs are 0x1040 + the virtio device ID (§4.1.2.1).
    static let modernDeviceIDBase: UInt16 = 0x1040
    /// QEMU's subsystem ID for modern devices (≥ 0x40 as §4.1.2.1 asks).
    static let modernSubsystemID: UInt16 = 0x1100

    /// `cfg_type` of the vendor-specific capabilities (§4.1.4).
    enum CapabilityType: UInt8 {
        case commonConfig = 1
        case notifyConfig = 2
        case isrConfig = 3
        case deviceConfig = 4
        case pciConfig = 5
    }

    /// The vendor-specific capability ID.
    static let vendorCapabilityID: UInt8 = 0x09

    /// The BAR of the modern register regions and the MSI-X table (64-bit memory), and the
    /// legacy I/O BAR of transitional devices (§4.1.4.8: BAR 0).
    static let modernBAR = 4
    static let legacyBAR = 0

    /// Bytes between the notify addresses of consecutive queues (`notify_off_multiplier`),
    /// with `queue_notify_off` = queue index.
    static let notifyOffMultiplier: UInt32 = 4

    /// Offsets in the common configuration structure (§4.1.4.3).
    enum Common {
        static let deviceFeatureSelect: UInt64 = 0x00
        static let deviceFeature: UInt64 = 0x04
        static let driverFeatureSelect: UInt64 = 0x08
        static let driverFeature: UInt64 = 0x0C
        static let configMSIXVector: UInt64 = 0x10
        static let numQueues: UInt64 = 0x12
        static let deviceStatus: UInt64 = 0x14
        static let configGeneration: UInt64 = 0x15
        static let queueSelect: UInt64 = 0x16
        static let queueSize: UInt64 = 0x18
        static let queueMSIXVector: UInt64 = 0x1A
        static let queueEnable: UInt64 = 0x1C
        static let queueNotifyOff: UInt64 = 0x1E
        static let queueDesc: UInt64 = 0x20
        static let queueDriver: UInt64 = 0x28
        static let queueDevice: UInt64 = 0x30
        /// Length of the structure without `queue_notify_data`/`queue_reset`, which need
        /// features the transport does not offer.
        static let length: UInt64 = 0x38
    }

    /// Offsets in the legacy I/O BAR (§4.1.4.8).
    enum Legacy {
        static let hostFeatures: UInt64 = 0x00
        static let guestFeatures: UInt64 = 0x04
        static let queuePFN: UInt64 = 0x08
        static let queueNum: UInt64 = 0x0C
        static let queueSelect: UInt64 = 0x0E
        static let queueNotify: UInt64 = 0x10
        static let status: UInt64 = 0x12
        static let isr: UInt64 = 0x13
        /// Present only while MSI-X is enabled.
        static let configVector: UInt64 = 0x14
        static let queueVector: UInt64 = 0x16
        /// Where the device configuration starts without / with MSI-X enabled.
        static let configOffset: UInt64 = 20
        static let configOffsetMSIX: UInt64 = 24
        /// Legacy rings: 4096-byte pages and used-ring alignment (§2.7.2 legacy interface).
        static let pageSize: UInt64 = 4096
    }

    /// ISR status bits (§4.1.4.5).
    static let isrQueue: UInt8 = 1
    static let isrConfig: UInt8 = 2

    /// The legacy device ID (0x1000 + n) of the virtio 0.9.5 device types (§4.1.2.3).
    static func transitionalDeviceID(_ type: VirtioDeviceType) -> UInt16? {
        switch type.rawValue {
        case 1: 0x1000   // network
        case 2: 0x1001   // block
        case 5: 0x1002   // balloon
        case 3: 0x1003   // console
        case 8: 0x1004   // SCSI
        case 4: 0x1005   // entropy
        case 9: 0x1009   // 9P transport
        default: nil
        }
    }

    /// The PCI class code QEMU gives each device type (drivers match on IDs, not classes;
    /// firmware and `lspci` show these). Unknown types are unclassified.
    static func classCode(_ type: VirtioDeviceType) -> PCIClassCode {
        switch type.rawValue {
        case 1: .ethernet                                          // network
        case 2, 8: .scsiStorage                                    // block, SCSI
        case 3, 19: .otherCommunication                            // console, vsock
        case 26: .otherMassStorage                                 // fs
        case 16: PCIClassCode(baseClass: 0x03, subclass: 0x80)     // GPU: other display
        case 18: PCIClassCode(baseClass: 0x09, subclass: 0x80)     // input: other input
        default: .unclassified                                     // entropy, balloon, 9P, …
        }
    }
}

/// Where the modern register regions and the MSI-X structures sit in the modern BAR.
/// Each region is page-aligned so a guest can map them separately (as QEMU lays them out).
struct VirtioPCIBARLayout: Sendable {
    let common: Range<UInt64>
    let isr: Range<UInt64>
    let device: Range<UInt64>
    let notify: Range<UInt64>
    let msixTable: UInt64
    let msixPBA: UInt64
    /// A power of two covering everything.
    let size: UInt64

    init(queueCount: Int, msixVectors: Int) {
        func pages(_ n: UInt64) -> UInt64 { max(0x1000, (n + 0xFFF) & ~0xFFF) }
        common = 0..<0x1000
        isr = 0x1000..<0x2000
        device = 0x2000..<0x3000
        let notifyLength = pages(UInt64(queueCount) * UInt64(VirtioPCI.notifyOffMultiplier))
        notify = 0x3000..<(0x3000 + notifyLength)
        msixTable = notify.upperBound
        msixPBA = msixTable + pages(UInt64(msixVectors) * 16)
        let end = msixPBA + pages(UInt64((msixVectors + 63) / 64 * 8))
        var size: UInt64 = 0x4000
        while size < end { size <<= 1 }
        self.size = size
    }
}
