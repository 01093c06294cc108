import Synchronization

/// The device's capacity, which ``VirtioBlockDevice/resize(to:)`` changes while queues run.
final class BlockCapacity: Sendable {
    private let value: Atomic<UInt64>
    init(bytes: UInt64) { value = Atomic(bytes) }
    var bytes: UInt64 { value.load(ordering: .acquiring) }
    func set(_ bytes: UInt64) { value.store(bytes, ordering: .releasing) }
}
