/// The four hypervisor interfaces an ioreq server uses, from one source (libxen or a
/// simulation).
public struct XenHypervisor: Sendable {
    public let control: any XenDeviceModelControl
    public let eventChannels: any XenEventChannels
    public let foreignMemory: any XenForeignMemory
    public let store: any XenStore

    public init(control: any XenDeviceModelControl, eventChannels: any XenEventChannels,
                foreignMemory: any XenForeignMemory, store: any XenStore) {
        self.control = control
        self.eventChannels = eventChannels
        self.foreignMemory = foreignMemory
        self.store = store
    }
}
