/// The address space an access targets.
public enum IOSpace: UInt8, Sendable, Hashable, CustomStringConvertible {
    /// x86 port I/O (16-bit port numbers).
    case port
    /// Guest-physical MMIO.
    case memory
    /// PCI configuration space; the address is `(SBDF << 32) | register`, as in Xen's `ioreq_t`.
    case pciConfig

    public var description: String {
        switch self {
        case .port: "pio"
        case .memory: "mmio"
        case .pciConfig: "pcicfg"
        }
    }
}

/// Whether the vCPU reads from or writes to the device.
public enum IODirection: UInt8, Sendable, Hashable {
    /// The vCPU reads: the device supplies the data (`in`, MMIO load).
    case read
    /// The vCPU writes: the data comes from the guest (`out`, MMIO store).
    case write
}

/// Where the data of an access lives.
public enum IOData: @unchecked Sendable {
    /// The value itself: written by the guest, or filled in for a read.
    case value(UInt64)
    /// A guest-physical buffer of `count * size` bytes (Xen `data_is_ptr`).
    case guestBuffer(UInt64)
    /// A host buffer of `count * size` bytes owned by the backend for the duration of the
    /// access (the data area of KVM's `kvm_run` page for string I/O).
    // SAFETY: the pointer is only dereferenced synchronously by `IODispatcher.dispatch`,
    // while the backend keeps the buffer alive; it never crosses threads.
    case hostBuffer(UnsafeMutableRawPointer)
}

/// One I/O access by a vCPU: port I/O, MMIO or PCI configuration, single or repeated.
///
/// Every backend reduces its exits to this value and hands it to ``IODispatcher``:
///
/// | `IORequest`        | Xen `ioreq_t`                                   | KVM `kvm_run`                                  |
/// |--------------------|-------------------------------------------------|------------------------------------------------|
/// | `space`            | `type`: `IOREQ_TYPE_PIO` → `.port`, `IOREQ_TYPE_COPY` → `.memory`, `IOREQ_TYPE_PCI_CONFIG` → `.pciConfig` | `KVM_EXIT_IO` → `.port`, `KVM_EXIT_MMIO` → `.memory` |
/// | `address`          | `addr` (for PCI config: `SBDF << 32 \| reg`)    | `io.port` / `mmio.phys_addr`                    |
/// | `size`             | `size` (1, 2, 4, 8)                             | `io.size` / `mmio.len`                          |
/// | `direction`        | `dir` (`IOREQ_READ`/`IOREQ_WRITE`)              | `io.direction` / `mmio.is_write`                |
/// | `count`            | `count`                                         | `io.count` (string I/O); 1 for MMIO             |
/// | `decrementing`     | `df`                                            | always `false` (KVM presents string data ascending in the buffer) |
/// | `data`             | `data_is_ptr == 0` → `.value(data)`; `data_is_ptr == 1` → `.guestBuffer(data)` | `count == 1` → `.value`; `count > 1` → `.hostBuffer(run + io.data_offset)`; MMIO → `.value` (little-endian `mmio.data`) |
///
/// Repetition semantics (identical to Xen's and QEMU's): element `i` of a repeated access uses
/// the port `address` unchanged for `.port`, and `address ± i * size` for `.memory`; the buffer
/// of `.guestBuffer`/`.hostBuffer` advances by `± i * size` (`-` when `decrementing`). A repeated
/// `.value` access performs the same access `count` times; a read leaves the last value.
public struct IORequest: Sendable {
    /// Which address space the access targets.
    public var space: IOSpace
    /// The (first) address accessed; for `.pciConfig`, `SBDF << 32 | register`.
    public var address: UInt64
    /// Access width in bytes: 1, 2, 4 or 8.
    public var size: Int
    /// Read or write.
    public var direction: IODirection
    /// The value, or where the `count * size` bytes of data live.
    public var data: IOData
    /// Number of repetitions; at least 1.
    public var count: UInt32
    /// Direction flag: elements step downwards in memory.
    public var decrementing: Bool

    /// Creates a request; the defaults describe a single access with an inline value.
    public init(
        space: IOSpace, address: UInt64, size: Int, direction: IODirection,
        data: IOData = .value(0), count: UInt32 = 1, decrementing: Bool = false
    ) {
        self.space = space
        self.address = address
        self.size = size
        self.direction = direction
        self.data = data
        self.count = count
        self.decrementing = decrementing
    }

    /// A single read of `size` bytes.
    public static func read(_ space: IOSpace, _ address: UInt64, size: Int) -> IORequest {
        IORequest(space: space, address: address, size: size, direction: .read)
    }

    /// A single write of `value` (`size` bytes, little-endian).
    public static func write(_ space: IOSpace, _ address: UInt64, size: Int, value: UInt64) -> IORequest {
        IORequest(space: space, address: address, size: size, direction: .write, data: .value(value))
    }

    /// The inline value (the result of a single read), or `nil` when data lives in a buffer.
    public var value: UInt64? {
        if case .value(let v) = data { return v }
        return nil
    }

    /// True when `size` is a supported width and `count` is non-zero.
    public var isWellFormed: Bool {
        (size == 1 || size == 2 || size == 4 || size == 8) && count >= 1
    }

    /// Mask covering `size` bytes.
    public var sizeMask: UInt64 { IORequest.mask(forSize: size) }

    /// Mask covering `size` bytes (all ones for 8 or more, zero for 0 or less).
    public static func mask(forSize size: Int) -> UInt64 {
        if size <= 0 { return 0 }
        return size >= 8 ? .max : (UInt64(1) << UInt64(size * 8)) &- 1
    }
}

extension IORequest: CustomStringConvertible {
    public var description: String {
        let dir = direction == .read ? "read" : "write"
        var s = "\(space) \(dir) \(size)B @0x\(String(address, radix: 16))"
        switch data {
        case .value(let v): s += " = 0x\(String(v, radix: 16))"
        case .guestBuffer(let gpa): s += " buf gpa 0x\(String(gpa, radix: 16))"
        case .hostBuffer: s += " host buf"
        }
        if count != 1 { s += " x\(count)\(decrementing ? " df" : "")" }
        return s
    }
}
