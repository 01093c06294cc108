/// The 12-byte header in front of every vhost-user message (vhost-user.rst "Message
/// Specification"): request, flags, payload size, in the host's byte order — little-endian
/// on every architecture swiftdm supports, and decoded as such explicitly.
public struct VhostUserHeader: Sendable, Hashable {
    /// Wire size of the header.
    public static let size = 12
    /// Bits 0–1 of `flags`: the protocol version, always 1.
    public static let versionMask: UInt32 = 0x3
    public static let version: UInt32 = 0x1
    /// Bit 2: this message is a reply.
    public static let replyFlag: UInt32 = 0x4
    /// Bit 3: the sender wants an ack (`REPLY_ACK`) for a request that has no reply of its own.
    public static let needReplyFlag: UInt32 = 0x8

    public var request: UInt32
    public var flags: UInt32
    public var size: UInt32

    public init(request: UInt32, flags: UInt32, size: UInt32) {
        self.request = request
        self.flags = flags
        self.size = size
    }

    public var needsReply: Bool { flags & Self.needReplyFlag != 0 }
    public var isReply: Bool { flags & Self.replyFlag != 0 }

    /// Decodes the first 12 bytes of `bytes`.
    public init(decoding bytes: some Collection<UInt8>) {
        var r = PayloadReader(Array(bytes.prefix(Self.size)))
        request = r.u32()
        flags = r.u32()
        size = r.u32()
    }

    /// The wire form.
    public var encoded: [UInt8] {
        var w = PayloadWriter()
        w.u32(request)
        w.u32(flags)
        w.u32(size)
        return w.bytes
    }
}
