import DeviceModel

/// An interrupt the device model asked the simulated hypervisor to deliver.
public enum SimulatedInterrupt: Sendable, Equatable, CustomStringConvertible {
    /// `xendevicemodel_inject_msi`.
    case msi(MSIMessage)
    /// `xendevicemodel_set_isa_irq_level`.
    case isaIRQ(irq: UInt8, asserted: Bool)
    /// `xendevicemodel_set_pci_intx_level`.
    case pciINTx(segment: UInt16, bus: UInt8, device: UInt8, pin: UInt8, asserted: Bool)

    /// The GSI Xen's virtual IO-APIC raises for this line: ISA IRQ 0 is GSI 2, other ISA
    /// IRQs map 1:1 (`hvm_isa_irq_to_gsi`); PCI INTx pins use Xen's fixed swizzle
    /// `((device << 2) + (device >> 3) + pin) & 31) + 16` (`hvm_pci_intx_gsi`).
    /// `nil` for MSIs.
    public var gsi: UInt32? {
        switch self {
        case .msi: return nil
        case .isaIRQ(let irq, _): return irq == 0 ? 2 : UInt32(irq)
        case .pciINTx(_, _, let device, let pin, _):
            let d = UInt32(device)
            return (((d << 2) + (d >> 3) + UInt32(pin)) & 31) + 16
        }
    }

    /// The PIRQ a PIRQ-form MSI names (Xen `hvm_inject_msi`: vector 0, the PIRQ in the
    /// destination ID bits 19:12 and address bits 63:40), or `nil` for other interrupts.
    public var pirq: UInt32? {
        if case .msi(let message) = self { return Self.pirq(of: message) }
        return nil
    }

    /// The PIRQ of `message` when it has the PIRQ form (vector 0), else `nil`.
    public static func pirq(of message: MSIMessage) -> UInt32? {
        guard message.vector == 0 else { return nil }
        let destination = UInt32(truncatingIfNeeded: message.address >> 12) & 0xff
        return UInt32(truncatingIfNeeded: message.address >> 32) & 0xffff_ff00 | destination
    }

    public var description: String {
        switch self {
        case .msi(let m): "\(m)"
        case .isaIRQ(let irq, let a): "ISA IRQ \(irq) \(a ? "high" : "low")"
        case .pciINTx(let s, let b, let d, let p, let a): "PCI \(s):\(b):\(d) INT\(["A", "B", "C", "D"][Int(p & 3)]) \(a ? "high" : "low")"
        }
    }
}
