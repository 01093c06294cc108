/// How PCI INTx pins reach IOAPIC inputs: the same swizzle the DSDT's `_PRT`, the MP table
/// and the PCI host bridge model use.
///
/// Device `d`, pin `p` (0 = INTA … 3 = INTD) on bus 0 → GSI `16 + (d + p) mod 4`, level-triggered,
/// active-low, like QEMU's q35 PIRQ E–H defaults collapsed onto four inputs.
public struct PCIInterruptRouting: Sendable, Hashable {
    /// The first IOAPIC input used for INTx.
    public static let baseGSI: UInt32 = 16
    /// How many IOAPIC inputs INTx is spread over.
    public static let gsiCount: UInt32 = 4

    public init() {}

    /// The GSI for `pin` (0…3 = INTA…INTD; other values wrap) of `device` (0…31) on bus 0.
    public static func gsi(device: UInt8, pin: UInt8) -> UInt32 {
        baseGSI + (UInt32(device & 0x1F) + UInt32(pin & 0x3)) % gsiCount
    }
}
