import HostIO

/// Settings for a ``VirtioConsoleDevice``: one port (port 0, the console) on a backend.
public struct VirtioConsoleConfiguration: Sendable {
    /// Where the port's bytes go.
    public var backend: any ConsoleBackend
    /// Offer `VIRTIO_CONSOLE_F_MULTIPORT`: control queues announce port 0 as a console and
    /// report the host side opening and closing.
    public var multiport: Bool
    /// The console size to report (`VIRTIO_CONSOLE_F_SIZE`); `nil` offers no size.
    public var size: ConsoleSize?
    /// A name for port 0 (`VIRTIO_CONSOLE_PORT_NAME`, multiport only; shows up as
    /// `/sys/class/virtio-ports/vportNp0/name` in Linux).
    public var portName: String?
    /// Maximum size of each queue.
    public var queueSize: UInt16

    public init(backend: any ConsoleBackend, multiport: Bool = true, size: ConsoleSize? = nil,
                portName: String? = nil, queueSize: UInt16 = 128) {
        self.backend = backend
        self.multiport = multiport
        self.size = size
        self.portName = portName
        self.queueSize = queueSize
    }
}

/// A terminal size in character cells.
public struct ConsoleSize: Sendable, Hashable {
    public var columns: UInt16
    public var rows: UInt16
    public init(columns: UInt16, rows: UInt16) {
        self.columns = columns
        self.rows = rows
    }
}
