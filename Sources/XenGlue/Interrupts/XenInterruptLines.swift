import DeviceModel

/// Wired interrupts of a Xen HVM guest.
///
/// ISA IRQs 0–15 are driven with `xendevicemodel_set_isa_irq_level` (``line(gsi:)``).
/// PCI INTx pins are driven per device with `xendevicemodel_set_pci_intx_level`
/// (``pciINTxLine(segment:bus:device:pin:)``): Xen itself derives their GSI from the
/// device and pin (and the PCI link routing), so there is no "set GSI n" for them.
public final class XenInterruptLines: InterruptLineProvider {
    public let control: any XenDeviceModelControl
    public let domid: XenDomainID

    public init(control: any XenDeviceModelControl, domid: XenDomainID) {
        self.control = control
        self.domid = domid
    }

    /// The ISA IRQ line `gsi` (0–15); higher GSIs belong to PCI INTx pins.
    public func line(gsi: UInt32) throws(InterruptError) -> any InterruptLine {
        guard gsi < 16 else { throw .invalidLine(gsi) }
        return XenISAInterruptLine(control: control, domid: domid, irq: UInt8(gsi))
    }

    /// The INTx pin `pin` (0–3 = INTA#–INTD#) of `device` on `bus`.
    public func pciINTxLine(segment: UInt16 = 0, bus: UInt8, device: UInt8, pin: UInt8) throws(InterruptError) -> any InterruptLine {
        guard device < 32, pin < 4 else { throw .invalidLine(UInt32(device) << 2 | UInt32(pin)) }
        return XenPCIINTxLine(control: control, domid: domid, segment: segment, bus: bus, device: device, pin: pin)
    }
}

/// An ISA IRQ of a Xen guest.
final class XenISAInterruptLine: InterruptLine {
    let control: any XenDeviceModelControl
    let domid: XenDomainID
    let irq: UInt8

    init(control: any XenDeviceModelControl, domid: XenDomainID, irq: UInt8) {
        self.control = control
        self.domid = domid
        self.irq = irq
    }

    func setLevel(_ asserted: Bool) throws(InterruptError) {
        do {
            try control.setISAIRQLevel(domid: domid, irq: irq, asserted: asserted)
        } catch {
            throw .deliveryFailed(what: "xendevicemodel_set_isa_irq_level irq \(irq)", errno: error.errno ?? 0)
        }
    }

    func pulse() throws(InterruptError) {
        try setLevel(true)
        try setLevel(false)
    }
}

/// A PCI INTx pin of a Xen guest.
final class XenPCIINTxLine: InterruptLine {
    let control: any XenDeviceModelControl
    let domid: XenDomainID
    let segment: UInt16
    let bus: UInt8
    let device: UInt8
    let pin: UInt8

    init(control: any XenDeviceModelControl, domid: XenDomainID, segment: UInt16, bus: UInt8, device: UInt8, pin: UInt8) {
        self.control = control
        self.domid = domid
        self.segment = segment
        self.bus = bus
        self.device = device
        self.pin = pin
    }

    func setLevel(_ asserted: Bool) throws(InterruptError) {
        do {
            try control.setPCIIntxLevel(domid: domid, segment: segment, bus: bus, device: device, pin: pin, asserted: asserted)
        } catch {
            throw .deliveryFailed(what: "xendevicemodel_set_pci_intx_level \(bus):\(device) INT\(["A", "B", "C", "D"][Int(pin)])", errno: error.errno ?? 0)
        }
    }

    func pulse() throws(InterruptError) {
        try setLevel(true)
        try setLevel(false)
    }
}
