/// A backend whose image can change size while the device runs (QMP `block_resize`).
public protocol ResizableBlockBackend: BlockBackend {
    /// Makes the image `bytes` long: growing adds zeroes, shrinking drops the end.
    /// ``BlockBackend/capacity`` reports the new size afterwards.
    func resize(to bytes: UInt64) throws(BlockBackendError)
}
