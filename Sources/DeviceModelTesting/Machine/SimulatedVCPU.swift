import DeviceModel

/// Issues ``IORequest``s the way a vCPU exit does, through a machine's ``IODispatcher``.
///
/// Every method builds the request a backend would build and dispatches it, so a device
/// sees exactly what it sees under KVM or Xen: single accesses (`in`/`out`, MMIO loads and
/// stores, PCI configuration cycles) and repeated string accesses (`rep ins`/`rep outs`,
/// `rep movs` to MMIO) with their data either in guest RAM (Xen's `data_is_ptr`) or in a host
/// buffer (KVM's `kvm_run` data area).
///
/// Several vCPUs may issue requests from different threads at once, as real vCPUs do.
/// Accesses nobody claims behave as in ``IODispatcher``: reads return all ones.
public struct SimulatedVCPU: Sendable {
    /// An identifier for diagnostics (0 for the machine's first vCPU).
    public let index: Int
    /// Where requests go.
    public let dispatcher: IODispatcher
    /// Resolves guest-buffer requests.
    public let memory: any GuestMemory

    /// A vCPU dispatching through `dispatcher`, with `memory` as guest RAM.
    public init(index: Int = 0, dispatcher: IODispatcher, memory: any GuestMemory) {
        self.index = index
        self.dispatcher = dispatcher
        self.memory = memory
    }

    /// Dispatches `request` as given, filling in read results.
    public func dispatch(_ request: inout IORequest) throws(SimulationError) {
        do {
            try dispatcher.dispatch(&request, guestMemory: memory)
        } catch {
            throw .dispatch(error)
        }
    }

    // MARK: Single accesses

    /// Reads `size` bytes (1, 2, 4 or 8) at `address` in `space`: `in`, an MMIO load, or a
    /// PCI configuration read.
    public func read(_ space: IOSpace, _ address: UInt64, size: Int) throws(SimulationError) -> UInt64 {
        var request = IORequest.read(space, address, size: size)
        try dispatch(&request)
        return request.value ?? IORequest.mask(forSize: size)
    }

    /// Writes the low `size` bytes of `value` at `address` in `space`: `out`, an MMIO store,
    /// or a PCI configuration write. Software ioeventfds see the write first.
    public func write(_ space: IOSpace, _ address: UInt64, size: Int, value: UInt64) throws(SimulationError) {
        var request = IORequest.write(space, address, size: size, value: value)
        try dispatch(&request)
    }

    // MARK: PCI configuration (`IOREQ_TYPE_PCI_CONFIG` addressing)

    /// The `.pciConfig` address of `register` in function `sbdf`
    /// (segment << 16 | bus << 8 | device << 3 | function).
    public static func pciConfigAddress(sbdf: UInt32, register: UInt32) -> UInt64 {
        UInt64(sbdf) << 32 | UInt64(register)
    }

    /// Reads `size` bytes of function `sbdf`'s configuration space at `register`.
    public func readPCIConfig(sbdf: UInt32, register: UInt32, size: Int) throws(SimulationError) -> UInt64 {
        try read(.pciConfig, Self.pciConfigAddress(sbdf: sbdf, register: register), size: size)
    }

    /// Writes `size` bytes of function `sbdf`'s configuration space at `register`.
    public func writePCIConfig(sbdf: UInt32, register: UInt32, size: Int, value: UInt64) throws(SimulationError) {
        try write(.pciConfig, Self.pciConfigAddress(sbdf: sbdf, register: register), size: size, value: value)
    }

    // MARK: String I/O with data in guest RAM (Xen `data_is_ptr`)

    /// `rep ins` / `rep movs` from a device into guest RAM: `count` reads of `size` bytes at
    /// `address`, stored at `buffer` and onwards (downwards when `decrementing`, the x86
    /// direction flag). Port addresses stay fixed; MMIO addresses step with the buffer.
    public func readString(
        _ space: IOSpace, _ address: UInt64, size: Int, count: UInt32,
        toGuest buffer: UInt64, decrementing: Bool = false
    ) throws(SimulationError) {
        var request = IORequest(
            space: space, address: address, size: size, direction: .read,
            data: .guestBuffer(buffer), count: count, decrementing: decrementing)
        try dispatch(&request)
    }

    /// `rep outs` / `rep movs` from guest RAM into a device: `count` writes of `size` bytes at
    /// `address`, loaded from `buffer` and onwards (downwards when `decrementing`).
    public func writeString(
        _ space: IOSpace, _ address: UInt64, size: Int, count: UInt32,
        fromGuest buffer: UInt64, decrementing: Bool = false
    ) throws(SimulationError) {
        var request = IORequest(
            space: space, address: address, size: size, direction: .write,
            data: .guestBuffer(buffer), count: count, decrementing: decrementing)
        try dispatch(&request)
    }

    // MARK: String I/O with data in a host buffer (KVM `KVM_EXIT_IO` with count > 1)

    /// `rep ins` as KVM presents it: `count` reads of `size` bytes at `address`, returned as
    /// `count * size` bytes in ascending order.
    public func readString(_ space: IOSpace, _ address: UInt64, size: Int, count: UInt32) throws(SimulationError) -> [UInt8] {
        try Self.checkShape(size: size, count: count)
        var bytes = [UInt8](repeating: 0, count: Int(count) * size)
        // `withUnsafeMutableBytes` only rethrows untyped errors; carry ours out in a Result.
        let result = bytes.withUnsafeMutableBytes { buffer in
            Result { () throws(SimulationError) in
                try dispatchHostBuffer(space, address, size: size, count: count, direction: .read, buffer)
            }
        }
        try result.get()
        return bytes
    }

    /// `rep outs` as KVM presents it: `bytes` holds `bytes.count / size` elements of `size`
    /// bytes, ascending, each written to `address`.
    public func writeString(_ space: IOSpace, _ address: UInt64, size: Int, bytes: [UInt8]) throws(SimulationError) {
        try Self.checkShape(size: size, count: 1)
        guard bytes.count > 0, bytes.count % size == 0, bytes.count / size <= Int(UInt32.max) else {
            throw .invalidStringLength(bytes: bytes.count, size: size)
        }
        let count = UInt32(bytes.count / size)
        var copy = bytes
        let result = copy.withUnsafeMutableBytes { buffer in
            Result { () throws(SimulationError) in
                try dispatchHostBuffer(space, address, size: size, count: count, direction: .write, buffer)
            }
        }
        try result.get()
    }

    /// Dispatches a host-buffer request over `buffer`, which holds exactly `count * size` bytes.
    public func dispatchHostBuffer(
        _ space: IOSpace, _ address: UInt64, size: Int, count: UInt32, direction: IODirection,
        _ buffer: UnsafeMutableRawBufferPointer
    ) throws(SimulationError) {
        try Self.checkShape(size: size, count: count)
        guard let base = buffer.baseAddress, buffer.count == Int(count) * size else {
            throw .invalidStringLength(bytes: buffer.count, size: size)
        }
        var request = IORequest(
            space: space, address: address, size: size, direction: direction,
            data: .hostBuffer(base), count: count)
        try dispatch(&request)
    }

    /// Rejects what the dispatcher would reject before any buffer is sized from the values.
    private static func checkShape(size: Int, count: UInt32) throws(SimulationError) {
        guard size == 1 || size == 2 || size == 4 || size == 8 else { throw .dispatch(.invalidSize(size)) }
        guard count >= 1 else { throw .dispatch(.invalidCount(count)) }
    }
}
