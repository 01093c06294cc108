/// How a bus maps a function's INTx pin to a global system interrupt.
///
/// On x86 the chipset's PIRQ router and the ACPI `_PRT` decide this; the machine model
/// passes the same rule here so the bus drives the line the guest expects.
public struct PCIINTxRouting: Sendable {
    /// The GSI for `pin` of the function in slot `device`.
    public let gsi: @Sendable (_ device: UInt8, _ pin: PCIInterruptPin) -> UInt32

    /// A routing given by a closure of slot and pin.
    public init(_ gsi: @escaping @Sendable (_ device: UInt8, _ pin: PCIInterruptPin) -> UInt32) {
        self.gsi = gsi
    }

    /// The conventional swizzle: slot `device`'s pin goes to PIRQ `(pin - 1 + device) mod 4`,
    /// and PIRQ A–D go to `gsis` (PCI-to-PCI Bridge Architecture 1.2 §9.1; Q35's slots 0–24).
    public static func swizzled(_ gsis: (UInt32, UInt32, UInt32, UInt32)) -> PCIINTxRouting {
        let table = [gsis.0, gsis.1, gsis.2, gsis.3]
        return PCIINTxRouting { device, pin in
            table[(Int(max(pin.rawValue, 1)) - 1 + Int(device)) % 4]
        }
    }
}
