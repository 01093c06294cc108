import DeviceModel

/// Turns the I/O exits of `kvm_run` into ``DeviceModel/IORequest``s and writes read results back.
///
/// Kept free of KVM calls so the mapping (the `KVM_EXIT_IO`/`KVM_EXIT_MMIO` column of the table in
/// ``DeviceModel/IORequest``) is testable on any host.
enum VCPUExitDecoder {
    /// `KVM_EXIT_IO`: `data` is `kvm_run + io.data_offset`, holding `count * size` bytes.
    /// A single access carries its value inline; string I/O (`rep ins/outs`, `count > 1`) points
    /// at the kernel's buffer, which holds the elements in ascending order whatever the guest's
    /// direction flag (KVM re-orders them), so `decrementing` stays false.
    static func portRequest(isWrite: Bool, size: Int, port: UInt16, count: UInt32, data: UnsafeMutableRawPointer) -> IORequest {
        let direction: IODirection = isWrite ? .write : .read
        if count > 1 {
            return IORequest(space: .port, address: UInt64(port), size: size, direction: direction, data: .hostBuffer(data), count: count)
        }
        let value = isWrite ? loadLE(data, size: size) : 0
        return IORequest(space: .port, address: UInt64(port), size: size, direction: direction, data: .value(value))
    }

    /// Stores a single port read's result where `KVM_RUN` expects it.
    static func completePortRead(_ request: IORequest, data: UnsafeMutableRawPointer) {
        guard request.direction == .read, case .value(let v) = request.data else { return }
        storeLE(v, size: request.size, to: data)
    }

    /// `KVM_EXIT_MMIO`: the accesses that carry out one exit of `length` bytes at `address`.
    /// Lengths of 1, 2, 4 and 8 are one access. KVM splits accesses that cross a page into
    /// fragments of any length from 1 to 8 (a 4-byte access may arrive as 3 + 1 bytes); those
    /// become byte accesses in ascending order, as a byte-wide bus would see them.
    static func mmioRequests(address: UInt64, length: Int, isWrite: Bool, data: UnsafeMutableRawPointer) -> [IORequest] {
        let direction: IODirection = isWrite ? .write : .read
        switch length {
        case 1, 2, 4, 8:
            let value = isWrite ? loadLE(data, size: length) : 0
            return [IORequest(space: .memory, address: address, size: length, direction: direction, data: .value(value))]
        case 3, 5, 6, 7:
            return (0..<length).map { i in
                let value = isWrite ? UInt64(data.load(fromByteOffset: i, as: UInt8.self)) : 0
                return IORequest(space: .memory, address: address &+ UInt64(i), size: 1, direction: direction, data: .value(value))
            }
        default:
            return []
        }
    }

    /// Writes the results of `mmioRequests`' reads back into the `mmio.data` buffer.
    static func completeMMIORead(_ requests: [IORequest], data: UnsafeMutableRawPointer) {
        guard let first = requests.first, first.direction == .read else { return }
        if requests.count == 1, case .value(let v) = first.data {
            storeLE(v, size: first.size, to: data)
            return
        }
        for (i, r) in requests.enumerated() where i < 8 {
            if case .value(let v) = r.data { data.storeBytes(of: UInt8(truncatingIfNeeded: v), toByteOffset: i, as: UInt8.self) }
        }
    }

    static func loadLE(_ p: UnsafeRawPointer, size: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in (0..<min(size, 8)).reversed() { v = v << 8 | UInt64(p.load(fromByteOffset: i, as: UInt8.self)) }
        return v
    }

    static func storeLE(_ value: UInt64, size: Int, to p: UnsafeMutableRawPointer) {
        for i in 0..<min(size, 8) { p.storeBytes(of: UInt8(truncatingIfNeeded: value >> UInt64(8 * i)), toByteOffset: i, as: UInt8.self) }
    }
}
