/// What a machine shows and what it is given: its screens (one ``DisplaySurface`` per scanout)
/// and the router to its input devices. Devices (virtio-gpu, virtio-input) attach to it when
/// the machine is assembled; outputs (VNC, screenshots) read from it.
public final class GuestDisplay: Sendable {
    /// The scanouts, by index.
    public let surfaces: [DisplaySurface]
    public let input: InputRouter

    /// A display with `scanouts` dark surfaces.
    public init(scanouts: Int = 1) {
        surfaces = (0..<max(1, scanouts)).map { DisplaySurface(index: $0) }
        input = InputRouter()
    }

    /// The first scanout: what a VNC client sees and a screenshot captures by default.
    public var primary: DisplaySurface { surfaces[0] }
}
