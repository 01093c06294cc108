/// Where a network device's frames go: each frame is preceded by a vnet header, Linux's
/// `struct virtio_net_hdr_v1` with `num_buffers` (12 bytes, see ``TapDevice``), that the
/// guest wrote (tx) or the backend fills (rx); a device whose guest uses another header size
/// converts.
///
/// Backends are non-blocking: `send`/`receive` return `nil` on EAGAIN, and the device waits
/// for ``pollFD`` readiness instead of spinning. The device calls them from its I/O thread.
public protocol PacketBackend: AnyObject, Sendable {
    /// A file descriptor that polls readable when a frame can be received and writable when
    /// one can be sent.
    var pollFD: Int32 { get }
    /// The offloads the backend handles in both directions: frames from the guest may use
    /// them, and ``setOffloads(_:)`` may enable them towards the guest. The device offers
    /// the matching feature bits.
    var supportedOffloads: PacketOffloads { get }
    /// Sends one frame gathered from `segments` (header first). Returns the bytes sent, or
    /// `nil` when the backend is full (retry once ``pollFD`` is writable).
    func send(_ segments: [UnsafeRawBufferPointer]) throws(PacketBackendError) -> Int?
    /// Receives one frame (header first) into `buffer`. Returns its length, or `nil` when no
    /// frame is pending.
    func receive(into buffer: UnsafeMutableRawBufferPointer) throws(PacketBackendError) -> Int?
    /// Tells the backend which offloads the guest can accept on receive (a subset of
    /// ``supportedOffloads``).
    func setOffloads(_ offloads: PacketOffloads) throws(PacketBackendError)
}
