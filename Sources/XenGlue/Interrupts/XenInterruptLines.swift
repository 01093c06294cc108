import DeviceModel

/// Wired interrupts of a Xen HVM guest.
///
/// ISA IRQs 0–15 are driven with `xendevicemodel_set_isa_irq_level`. PCI INTx pins are
/// driven per device and pin with `xendevicemodel_set_pci_intx_level`: Xen derives their
/// GSI itself (`hvm_pci_intx_gsi`, plus the PCI-ISA link routing for the PIC), so there is
/// no "set GSI n" for them. To let a `PCIBus` drive them through the generic
/// `InterruptLineProvider`, ``pciINTxRouting`` names each device/pin with a line number
/// from ``pciINTxLineBase`` up, which ``line(gsi:)`` turns back into a PCI INTx line.
public final class XenInterruptLines: InterruptLineProvider {
    public let control: any XenDeviceModelControl
    public let domid: XenDomainID
    /// Reported before a line is raised (see ``XenMSIController/modifiedFrames``).
    public let modifiedFrames: XenModifiedFrameLog?

    public init(control: any XenDeviceModelControl, domid: XenDomainID, modifiedFrames: XenModifiedFrameLog? = nil) {
        self.control = control
        self.domid = domid
        self.modifiedFrames = modifiedFrames
    }

    /// First line number of ``pciINTxRouting``: `base | device << 2 | (pin - 1)`.
    public static let pciINTxLineBase: UInt32 = 0x1_0000

    /// The routing a `PCIBus` (bus 0, where Xen's INTx lives) uses on Xen: every device/pin
    /// gets its own line, driven with `set_pci_intx_level`.
    public static let pciINTxRouting = PCIINTxRouting { device, pin in
        pciINTxLineBase | UInt32(device & 0x1f) << 2 | UInt32(max(pin.rawValue, 1) - 1)
    }

    /// ISA IRQ `gsi` (0–15), or a PCI INTx pin named by ``pciINTxRouting``.
    public func line(gsi: UInt32) throws(InterruptError) -> any InterruptLine {
        if gsi < 16 { return XenISAInterruptLine(control: control, domid: domid, irq: UInt8(gsi), modifiedFrames: modifiedFrames) }
        guard gsi >= Self.pciINTxLineBase, gsi < Self.pciINTxLineBase + 128 else { throw .invalidLine(gsi) }
        let n = gsi - Self.pciINTxLineBase
        return try pciINTxLine(bus: 0, device: UInt8(n >> 2), pin: UInt8(n & 3))
    }

    /// The INTx pin `pin` (0–3 = INTA#–INTD#) of `device` on `bus`.
    public func pciINTxLine(segment: UInt16 = 0, bus: UInt8, device: UInt8, pin: UInt8) throws(InterruptError) -> any InterruptLine {
        guard device < 32, pin < 4 else { throw .invalidLine(UInt32(device) << 2 | UInt32(pin)) }
        return XenPCIINTxLine(control: control, domid: domid, segment: segment, bus: bus, device: device, pin: pin,
                              modifiedFrames: modifiedFrames)
    }
}

/// An ISA IRQ of a Xen guest.
final class XenISAInterruptLine: InterruptLine {
    let control: any XenDeviceModelControl
    let domid: XenDomainID
    let irq: UInt8
    let modifiedFrames: XenModifiedFrameLog?

    init(control: any XenDeviceModelControl, domid: XenDomainID, irq: UInt8, modifiedFrames: XenModifiedFrameLog?) {
        self.control = control
        self.domid = domid
        self.irq = irq
        self.modifiedFrames = modifiedFrames
    }

    func setLevel(_ asserted: Bool) throws(InterruptError) {
        if asserted { modifiedFrames?.flush() }
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
    let modifiedFrames: XenModifiedFrameLog?

    init(control: any XenDeviceModelControl, domid: XenDomainID, segment: UInt16, bus: UInt8, device: UInt8, pin: UInt8,
         modifiedFrames: XenModifiedFrameLog?) {
        self.control = control
        self.domid = domid
        self.segment = segment
        self.bus = bus
        self.device = device
        self.pin = pin
        self.modifiedFrames = modifiedFrames
    }

    func setLevel(_ asserted: Bool) throws(InterruptError) {
        if asserted { modifiedFrames?.flush() }
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
