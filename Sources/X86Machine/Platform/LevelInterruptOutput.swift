import DeviceModel
import Synchronization

/// A device's level-triggered interrupt output: drives an ``InterruptLine`` only when the
/// level changes (each change may cost a hypercall or ioctl) and counts delivery failures,
/// which an ``IOHandler`` cannot throw to anyone.
///
/// Callers update it while holding their device lock, so level changes reach the line in the
/// order the device state changed.
final class LevelInterruptOutput: Sendable {
    private let line: (any InterruptLine)?
    private let level = Mutex<Bool>(false)
    private let failures = Atomic<UInt64>(0)

    init(_ line: (any InterruptLine)?) { self.line = line }

    /// Sets the output level; a no-op when it is unchanged or no line is attached.
    func set(_ asserted: Bool) {
        guard let line else { return }
        level.withLock { current in
            guard current != asserted else { return }
            do {
                try line.setLevel(asserted)
                current = asserted
            } catch {
                failures.add(1, ordering: .relaxed)
            }
        }
    }

    /// The level last driven onto the line.
    var asserted: Bool { level.withLock { $0 } }

    /// How many level changes the backend refused.
    var deliveryFailures: UInt64 { failures.load(ordering: .relaxed) }
}
