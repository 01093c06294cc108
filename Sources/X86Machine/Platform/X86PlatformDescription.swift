/// What the firmware tables (ACPI, MP) describe: the memory layout, the CPUs, the platform
/// devices at their fixed places and the virtio-mmio devices the launcher created.
public struct X86PlatformDescription: Sendable, Hashable {
    /// The most CPUs: xAPIC IDs 0…253, with the IOAPIC taking the next ID.
    public static let maximumCPUCount = 254

    public let layout: X86MemoryLayout
    public let cpuCount: Int
    /// virtio-mmio devices, each with its window and GSI (usually taken from
    /// ``X86MemoryLayout/virtioMMIOSlots``).
    public let virtioMMIODevices: [VirtioMMIOSlot]
    /// The ACPI PM block's I/O base (``ACPIPowerManagement``).
    public let pmBase: UInt16

    /// Checks and creates a description.
    public init(
        layout: X86MemoryLayout, cpuCount: Int, virtioMMIODevices: [VirtioMMIOSlot] = [],
        pmBase: UInt16 = ACPIPowerManagement.defaultBase
    ) throws(MemoryLayoutError) {
        guard (1...Self.maximumCPUCount).contains(cpuCount) else {
            throw .cpuCountInvalid(cpuCount, maximum: Self.maximumCPUCount)
        }
        guard virtioMMIODevices.count <= VirtioMMIOSlot.gsis.count else {
            throw .tooManyVirtioMMIODevices(virtioMMIODevices.count, maximum: VirtioMMIOSlot.gsis.count)
        }
        let window = layout.virtioMMIOWindow
        for d in virtioMMIODevices {
            guard d.size > 0, d.size <= UInt64(UInt32.max), window.contains(d.base, size: d.size) else {
                throw .virtioMMIODeviceOutsideWindow(base: d.base, size: d.size)
            }
        }
        var gsis = Set<UInt32>()
        for d in virtioMMIODevices {
            guard VirtioMMIOSlot.gsis.contains(d.gsi), gsis.insert(d.gsi).inserted else {
                throw .virtioMMIOInterruptInvalid(d.gsi)
            }
        }
        let sorted = virtioMMIODevices.sorted { $0.base < $1.base }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.base + a.size > b.base {
            throw .virtioMMIODevicesOverlap(a.base, b.base)
        }
        self.layout = layout
        self.cpuCount = cpuCount
        self.virtioMMIODevices = virtioMMIODevices
        self.pmBase = pmBase
    }

    /// The IOAPIC's ID: the first one after the local APIC IDs (MP spec 1.4 §4.3.3 wants them
    /// distinct).
    public var ioapicID: UInt8 { UInt8(cpuCount) }
}
