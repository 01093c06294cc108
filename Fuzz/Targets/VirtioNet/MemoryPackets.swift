import DeviceModel
import HostIO
import Synchronization

/// A packet backend in memory for the net fuzz target: frames the target injects wait in a
/// queue (the poll descriptor, an eventfd, is readable while any do), and frames the device
/// sends are recorded.
final class MemoryPackets: PacketBackend, @unchecked Sendable {
    // SAFETY (@unchecked): the queues are only touched under `lock`; `notifier` is Sendable.
    private struct State {
        var incoming: [[UInt8]] = []
        var sent: [[UInt8]] = []
        var offloads: PacketOffloads = []
    }
    private let lock = Mutex(State())
    private let notifier: EventNotifier
    let supportedOffloads = PacketOffloads.all

    init() throws {
        notifier = try EventNotifier()
    }

    var pollFD: Int32 { notifier.fd }

    /// Queues `frame` (vnet header first) for the device to receive.
    func inject(_ frame: [UInt8]) {
        lock.withLock { s in
            s.incoming.append(frame)
            try? notifier.signal()
        }
    }

    /// Frames injected and not yet received.
    var pending: Int { lock.withLock { $0.incoming.count } }

    /// Frames the device sent since the last call.
    func takeSent() -> [[UInt8]] { lock.withLock { s in defer { s.sent = [] }; return s.sent } }

    func clear() {
        lock.withLock { s in
            s.incoming = []
            s.sent = []
            notifier.drain()
        }
    }

    func send(_ segments: [UnsafeRawBufferPointer]) throws(PacketBackendError) -> Int? {
        let frame = segments.flatMap { Array($0) }
        lock.withLock { $0.sent.append(frame) }
        return frame.count
    }

    func receive(into buffer: UnsafeMutableRawBufferPointer) throws(PacketBackendError) -> Int? {
        lock.withLock { s -> Int? in
            guard !s.incoming.isEmpty else {
                // Drained under the lock, so an inject cannot slip between the check and it.
                notifier.drain()
                return nil
            }
            let frame = s.incoming.removeFirst()
            let n = min(frame.count, buffer.count)
            if n > 0 { frame.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: n) } }
            if s.incoming.isEmpty { notifier.drain() }
            return n
        }
    }

    func setOffloads(_ offloads: PacketOffloads) throws(PacketBackendError) {
        lock.withLock { $0.offloads = offloads }
    }
}
