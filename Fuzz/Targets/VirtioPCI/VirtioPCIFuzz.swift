import FuzzTransportSupport

/// virtio-pci register sequences: common/notify/ISR/device BARs, the legacy I/O BAR, PCI
/// configuration space and the MSI-X table; see ``TransportRegisterFuzz``.
@main
struct VirtioPCIFuzz {
    static func main() { TransportRegisterFuzz.run(kinds: [.pciMSIX, .pciINTx, .pciLegacy]) }
}
