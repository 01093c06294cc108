/// What a control command answers: the response type and the bytes after the header.
struct GPUReply {
    var type: VirtioGPUResponse
    var payload: [UInt8] = []

    static let ok = GPUReply(type: .okNoData)

    init(type: VirtioGPUResponse, payload: [UInt8] = []) {
        self.type = type
        self.payload = payload
    }

    init(_ error: VirtioGPUResponse) { self.init(type: error) }

    /// The complete response: header (echoing the fence when the request asked for one) and
    /// payload.
    func encoded(echoing request: GPURequestBytes?) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(VirtioGPUProtocol.headerSize + payload.count)
        var flags: UInt32 = 0, fence: UInt64 = 0, context: UInt32 = 0
        if let request, request.count >= VirtioGPUProtocol.headerSize, request.flags & VirtioGPUProtocol.flagFence != 0 {
            flags = VirtioGPUProtocol.flagFence
            fence = request.fenceID
            context = request.contextID
        }
        out.appendLittleEndian(type.rawValue)
        out.appendLittleEndian(flags)
        out.appendLittleEndian(fence)
        out.appendLittleEndian(context)
        out.appendLittleEndian(UInt32(0))  // ring_idx, padding
        out += payload
        return out
    }
}

extension Array where Element == UInt8 {
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        // Shifting picks bytes by significance, so this is little-endian on any host.
        for i in 0..<(T.bitWidth / 8) { append(UInt8(truncatingIfNeeded: value >> (8 * i))) }
    }
}

/// An error response, as a Swift error for early returns.
struct GPUCommandError: Error {
    let response: VirtioGPUResponse
    init(_ response: VirtioGPUResponse) { self.response = response }
}
