/// Why a machine layout or platform description was refused.
public enum MemoryLayoutError: Error, Equatable, CustomStringConvertible {
    case ramTooSmall(UInt64, minimum: UInt64)
    case ramNotPageAligned(UInt64)
    case ramTooLarge(UInt64, maximum: UInt64)
    case pciHoleStartInvalid(UInt64)
    case mmio64SizeInvalid(UInt64)
    case cpuCountInvalid(Int, maximum: Int)
    case tooManyVirtioMMIODevices(Int, maximum: Int)
    case virtioMMIODeviceOutsideWindow(base: UInt64, size: UInt64)
    case virtioMMIODevicesOverlap(UInt64, UInt64)
    case virtioMMIOInterruptInvalid(UInt32)
    case tooManyE820Entries(Int, maximum: Int)

    public var description: String {
        switch self {
        case .ramTooSmall(let size, let minimum):
            "memory size \(size) bytes is below the minimum of \(minimum) bytes"
        case .ramNotPageAligned(let size):
            "memory size \(size) bytes is not a multiple of 4 KiB"
        case .ramTooLarge(let size, let maximum):
            "memory size \(size) bytes exceeds the maximum of \(maximum) bytes"
        case .pciHoleStartInvalid(let start):
            "PCI hole start 0x\(String(start, radix: 16)) must be a multiple of 256 MiB between 0x10000000 and 0xc0000000"
        case .mmio64SizeInvalid(let size):
            "64-bit PCI window size 0x\(String(size, radix: 16)) must be a multiple of 1 GiB between 1 GiB and 1 TiB"
        case .cpuCountInvalid(let n, let maximum):
            "CPU count \(n) is not between 1 and \(maximum)"
        case .tooManyVirtioMMIODevices(let n, let maximum):
            "\(n) virtio-mmio devices requested; at most \(maximum) have interrupt lines"
        case .virtioMMIODeviceOutsideWindow(let base, let size):
            "virtio-mmio device at 0x\(String(base, radix: 16)) size 0x\(String(size, radix: 16)) is outside the virtio-mmio window"
        case .virtioMMIODevicesOverlap(let a, let b):
            "virtio-mmio devices at 0x\(String(a, radix: 16)) and 0x\(String(b, radix: 16)) overlap"
        case .virtioMMIOInterruptInvalid(let gsi):
            "virtio-mmio interrupt GSI \(gsi) is not one of the free lines \(VirtioMMIOSlot.gsis) or is used twice"
        case .tooManyE820Entries(let n, let maximum):
            "e820 map has \(n) entries; boot_params holds at most \(maximum)"
        }
    }
}
