import Synchronization

/// The device's current MAC address, shared by configuration-space reads (vCPU threads),
/// legacy configuration writes and the control queue (the I/O thread). Lock-free: a 48-bit
/// integer in an atomic.
final class NetMACState: Sendable {
    private let value: Atomic<UInt64>

    init(_ address: MACAddress) { value = Atomic(address.key) }

    /// The address as a 48-bit integer (see ``MACAddress/key``).
    var key: UInt64 { value.load(ordering: .acquiring) }

    var address: MACAddress { MACAddress(key: key) }

    func set(_ address: MACAddress) { value.store(address.key, ordering: .releasing) }

    /// A legacy configuration write of `bytes` at `offset` within the six address bytes.
    func write(bytes: [UInt8], at offset: Int) {
        var old = value.load(ordering: .acquiring)
        while true {
            var new = old
            for (i, b) in bytes.enumerated() where offset >= 0 && offset + i < 6 {
                let shift = UInt64(40 - 8 * (offset + i))
                new = new & ~(0xFF << shift) | UInt64(b) << shift
            }
            let (done, seen) = value.compareExchange(expected: old, desired: new, ordering: .acquiringAndReleasing)
            if done { return }
            old = seen
        }
    }
}
