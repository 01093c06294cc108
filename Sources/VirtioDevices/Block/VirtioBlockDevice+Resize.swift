import HostIO
import Virtio

extension VirtioBlockDevice {
    /// The capacity the device reports to the driver now, in bytes (whole sectors).
    public var capacityBytes: UInt64 { capacity.bytes }

    /// Changes the image's size to `bytes` (a multiple of 512) and tells the driver: the
    /// configuration's `capacity` changes, `config_generation` moves on and a
    /// configuration-change notification goes out (virtio 1.2 §5.2.4, §4.1.4.3; Linux's
    /// `virtblk_config_changed` then rereads the capacity and resizes the disk).
    ///
    /// Requests beyond a shrunk end fail with `VIRTIO_BLK_S_IOERR` from now on.
    public func resize(to bytes: UInt64) throws(VirtioBlockError) {
        guard bytes % BlockLayout.sectorSize == 0 else {
            throw .invalidConfiguration("size \(bytes) is not a multiple of \(BlockLayout.sectorSize) bytes")
        }
        guard let resizable = backend as? any ResizableBlockBackend else {
            throw .invalidConfiguration("the image of \(configuration.path) cannot be resized")
        }
        do throws(BlockBackendError) {
            try resizable.resize(to: bytes)
        } catch {
            throw .backend(error)
        }
        capacity.set(bytes)
        interrupts.withLock { $0 }?.signalConfigChange()
    }
}
