import DeviceModel

/// Where ``VirtioTestDriver`` observes its device's interrupts: the recording wired line
/// (virtio-mmio, PCI INTx) and/or the recording MSI controller (MSI-X) the transport was
/// given.
public struct VirtioTestInterruptSource: Sendable {
    /// The wired line the transport drives, if any.
    public let line: RecordingInterruptLine?
    /// The MSI controller the transport signals, if any.
    public let msi: RecordingMSIController?

    /// Observes `line` and/or `msi`.
    public init(line: RecordingInterruptLine? = nil, msi: RecordingMSIController? = nil) {
        self.line = line
        self.msi = msi
    }

    /// Every MSI message delivered so far, oldest first.
    public var messages: [MSIMessage] { msi?.messages.all ?? [] }

    /// Whether the wired line is asserted.
    public var lineAsserted: Bool { line?.isAsserted ?? false }

    /// Sleeps until the MSI log (`messages == true`) or the line changes, or `timeout`.
    func waitForActivity(messages: Bool, timeout: Duration) {
        if messages, let msi {
            let seen = msi.messages.count
            _ = msi.messages.wait(timeout: timeout) { $0.count > seen }
        } else if !messages, let line {
            let seen = line.levelChanges.count
            _ = line.levelChanges.wait(timeout: timeout) { $0.count > seen }
        } else {
            var request = timespec(tv_sec: 0, tv_nsec: 1_000_000)
            _ = nanosleep(&request, nil)
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
