import DeviceModel

/// Delivers MSIs to a Xen guest with `xendevicemodel_inject_msi`.
///
/// An HVM guest with `XENFEAT_hvm_pirqs` (always offered on AMD) binds MSIs to PIRQs: Linux
/// writes the PIRQ into the message (vector 0, the PIRQ in the destination ID bits), never
/// unmasks the MSI-X entries (it sets `pci_msi_ignore_mask`) and masks through the event
/// channel instead. Such messages ignore the MSI-X mask bits (``ignoresVectorMask(_:)``), as
/// QEMU's `xen_is_pirq_msi` makes them; otherwise the first interrupt would stay pending
/// forever.
public final class XenMSIController: MSIController {
    public let control: any XenDeviceModelControl
    public let domid: XenDomainID
    /// Reported before each interrupt, so the guest never sees an interrupt for data Xen's
    /// dirty log lacks.
    public let modifiedFrames: XenModifiedFrameLog?

    public init(control: any XenDeviceModelControl, domid: XenDomainID, modifiedFrames: XenModifiedFrameLog? = nil) {
        self.control = control
        self.domid = domid
        self.modifiedFrames = modifiedFrames
    }

    /// True for the PIRQ form: vector (data bits 7:0) 0.
    public func ignoresVectorMask(_ message: MSIMessage) -> Bool { message.data & 0xFF == 0 }

    public func signal(_ message: MSIMessage) throws(InterruptError) {
        modifiedFrames?.flush()
        do {
            try control.injectMSI(domid: domid, address: message.address, data: message.data)
        } catch {
            throw .deliveryFailed(what: "xendevicemodel_inject_msi \(message)", errno: error.errno ?? 0)
        }
    }
}
