/// A device region that answers accesses relative to the start of its range.
///
/// Handlers are called from vCPU threads (possibly several at once) and must protect
/// their own state. `size` is 1, 2, 4 or 8; values are little-endian, zero-extended.
public protocol IOHandler: AnyObject, Sendable {
    /// Reads `size` bytes at `offset` from the start of the handler's range.
    func read(at offset: UInt64, size: Int) -> UInt64
    /// Writes the low `size` bytes of `value` at `offset` from the start of the handler's range.
    func write(at offset: UInt64, size: Int, value: UInt64)
}
