import DeviceModel

/// Why the test driver gave up: the device misbehaved, or the driver ran out of something.
public enum VirtioTestDriverError: Error, Equatable, CustomStringConvertible {
    /// Probing found no virtio device (wrong magic, version, IDs or capabilities).
    case noDevice(String)
    /// The device cleared `FEATURES_OK` on re-read: it refused the feature set (§3.1.1 step 6).
    case featuresRefused(offered: UInt64, requested: UInt64)
    /// The device reports this queue as unavailable (maximum size 0).
    case queueUnavailable(Int)
    /// The queue is already enabled (the driver did not reset first).
    case queueInUse(Int)
    /// The device refused an MSI-X vector (it read back as `VIRTIO_MSI_NO_VECTOR`).
    case vectorRefused(queue: Int?, vector: UInt16)
    /// Not enough free descriptors for a request.
    case queueFull(queue: Int, needed: Int, free: Int)
    /// The guest-RAM arena cannot satisfy an allocation.
    case arenaExhausted(requested: Int)
    /// The device returned a used element the driver did not submit.
    case unexpectedUsedHead(queue: Int, head: UInt32)
    /// The device moved `used.idx` further than the queue size.
    case usedIndexJump(queue: Int, from: UInt16, to: UInt16)
    /// A guest-memory access of the driver failed.
    case memory(GuestMemoryError)
    /// Something the driver waited for did not happen in time (the device hung).
    case timeout(String)

    public var description: String {
        switch self {
        case .noDevice(let why): "no virtio device: \(why)"
        case .featuresRefused(let o, let r):
            "device refused features 0x\(String(r, radix: 16)) (offered 0x\(String(o, radix: 16)))"
        case .queueUnavailable(let q): "queue \(q) is not available"
        case .queueInUse(let q): "queue \(q) is already enabled"
        case .vectorRefused(let q, let v):
            "MSI-X vector \(v) refused for \(q.map { "queue \($0)" } ?? "configuration changes")"
        case .queueFull(let q, let n, let f): "queue \(q): request needs \(n) descriptors, \(f) free"
        case .arenaExhausted(let n): "guest RAM arena cannot allocate \(n) bytes"
        case .unexpectedUsedHead(let q, let h): "queue \(q): device returned head \(h), which is not in flight"
        case .usedIndexJump(let q, let f, let t): "queue \(q): used index jumped from \(f) to \(t)"
        case .memory(let e): "driver memory access: \(e)"
        case .timeout(let what): "timed out waiting for \(what)"
        }
    }
}
