import DeviceModel

/// Delivers MSIs to a Xen guest with `xendevicemodel_inject_msi`.
public final class XenMSIController: MSIController {
    public let control: any XenDeviceModelControl
    public let domid: XenDomainID

    public init(control: any XenDeviceModelControl, domid: XenDomainID) {
        self.control = control
        self.domid = domid
    }

    public func signal(_ message: MSIMessage) throws(InterruptError) {
        do {
            try control.injectMSI(domid: domid, address: message.address, data: message.data)
        } catch {
            throw .deliveryFailed(what: "xendevicemodel_inject_msi \(message)", errno: error.errno ?? 0)
        }
    }
}
