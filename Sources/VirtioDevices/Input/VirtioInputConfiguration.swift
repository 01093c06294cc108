import Display

/// Settings for a ``VirtioInputDevice`` (virtio 1.2 §5.8).
public struct VirtioInputConfiguration: Sendable, Hashable {
    /// What the device is: a keyboard, a tablet (absolute pointer) or a mouse.
    public var kind: InputDeviceKind
    /// The name the guest sees (`VIRTIO_INPUT_CFG_ID_NAME`); `nil`: "swiftdm virtio <kind>".
    public var name: String?
    /// The serial the guest sees (`VIRTIO_INPUT_CFG_ID_SERIAL`, Linux's `uniq`); `nil`:
    /// none (size 0), as QEMU reports by default.
    public var serial: String?
    /// Maximum size of each of the two queues.
    public var queueSize: UInt16
    /// How many events wait for guest buffers at most; beyond it the oldest whole reports
    /// are dropped (a guest that stopped reading must not make the host grow).
    public var backlogLimit: Int

    /// Accepted backlog limits: at least one event and its `SYN_REPORT`.
    public static let backlogLimitRange: ClosedRange<Int> = 2...(1 << 20)
    /// The longest name or serial: Linux copies `min(size, 64)` bytes into a 64-byte buffer
    /// and relies on a zero after them.
    public static let maximumStringLength = 63

    public init(kind: InputDeviceKind, name: String? = nil, serial: String? = nil,
                queueSize: UInt16 = 64, backlogLimit: Int = 1024) {
        self.kind = kind
        self.name = name
        self.serial = serial
        self.queueSize = queueSize
        self.backlogLimit = backlogLimit
    }

    /// The name the device reports.
    public var effectiveName: String { name ?? "swiftdm virtio \(kind)" }

    func validate() throws(VirtioInputError) {
        let q = queueSize
        guard q > 0, q <= 32768, q & (q - 1) == 0 else { throw .invalidQueueSize(q) }
        guard Self.backlogLimitRange.contains(backlogLimit) else { throw .invalidBacklogLimit(backlogLimit) }
        for (field, value) in [("name", name), ("serial", serial)] {
            guard let value else { continue }
            let length = value.utf8.count
            guard length > 0 else { throw .invalidString(field: field, value: value, reason: "is empty") }
            guard length <= Self.maximumStringLength else {
                throw .invalidString(field: field, value: value,
                                     reason: "is \(length) bytes, more than \(Self.maximumStringLength)")
            }
            guard !value.utf8.contains(0) else {
                throw .invalidString(field: field, value: value, reason: "contains a NUL byte")
            }
        }
    }
}
