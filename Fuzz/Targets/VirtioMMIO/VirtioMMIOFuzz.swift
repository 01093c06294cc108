import FuzzTransportSupport

/// virtio-mmio register sequences (modern and legacy layouts); see ``TransportRegisterFuzz``.
@main
struct VirtioMMIOFuzz {
    static func main() { TransportRegisterFuzz.run(kinds: [.mmio, .mmioLegacy]) }
}
