/// Where a block device's sectors live. Calls are blocking and made from the device's
/// worker threads, never from a vCPU or the device's event loop; several may run at once.
/// Buffers are host views of guest memory, valid only during the call (zero copy).
public protocol BlockBackend: AnyObject, Sendable {
    /// Size in bytes.
    var capacity: UInt64 { get }
    /// True when the backend refuses writes.
    var isReadOnly: Bool { get }
    /// Fills `buffers` from consecutive bytes at `offset` (`preadv`).
    func read(into buffers: [UnsafeMutableRawBufferPointer], at offset: UInt64) throws(BlockBackendError)
    /// Writes `buffers` to consecutive bytes at `offset`, all of them or an error (`pwritev`).
    func write(from buffers: [UnsafeMutableRawBufferPointer], at offset: UInt64) throws(BlockBackendError)
    /// Makes completed writes durable (`fdatasync`).
    func flush() throws(BlockBackendError)
    /// Tells the backend the range's contents are no longer needed (may deallocate).
    func discard(offset: UInt64, length: UInt64) throws(BlockBackendError)
    /// Makes the range read as zeroes, deallocating it if `mayUnmap`.
    func writeZeroes(offset: UInt64, length: UInt64, mayUnmap: Bool) throws(BlockBackendError)
}
