/// Where one virtio-mmio device sits: its register window and its interrupt (GSI).
///
/// The DSDT describes each as a `LNRO0005` device with a `Memory32Fixed` and an `Interrupt`
/// resource (level-triggered, active-high), which is how Linux finds virtio-mmio devices
/// without `virtio_mmio.device=` on the command line.
public struct VirtioMMIOSlot: Sendable, Hashable {
    /// Position in ``X86MemoryLayout/virtioMMIOSlots``; also the device's ACPI `_UID`.
    public let index: Int
    public let base: UInt64
    public let size: UInt64
    /// The IOAPIC input (GSI) its interrupt is wired to.
    public let gsi: UInt32

    public init(index: Int, base: UInt64, size: UInt64, gsi: UInt32) {
        self.index = index
        self.base = base
        self.size = size
        self.gsi = gsi
    }

    /// GSIs free for virtio-mmio on this machine: ISA IRQs no legacy device here uses, and the
    /// IOAPIC inputs above the PCI INTx ones (see ``PCIInterruptRouting``).
    public static let gsis: [UInt32] = [5, 6, 7, 10, 11, 12, 13, 14, 15, 20, 21, 22, 23]
}
