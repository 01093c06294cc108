/// `struct virtio_blk_config` (virtio 1.2 §5.2.4), little-endian, up to the secure-erase
/// fields (the zoned block is not offered).
struct BlockConfigSpace {
    var capacitySectors: UInt64
    var sizeMax: UInt32
    var segMax: UInt32
    var blockSize: UInt32
    var physicalBlockExponent: UInt8
    var minIOSize: UInt16
    var optimalIOSize: UInt32
    var numQueues: UInt16
    var maxDiscardSectors: UInt32
    var maxDiscardSegments: UInt32
    var discardSectorAlignment: UInt32
    var maxWriteZeroesSectors: UInt32
    var maxWriteZeroesSegments: UInt32
    var writeZeroesMayUnmap: Bool

    static let size = 72

    var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.size)
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        put(capacitySectors)                  // 0  capacity
        put(sizeMax)                          // 8  size_max
        put(segMax)                           // 12 seg_max
        put(UInt32(0))                        // 16 geometry (not offered)
        put(blockSize)                        // 20 blk_size
        put(physicalBlockExponent)            // 24 topology.physical_block_exp
        put(UInt8(0))                         // 25 topology.alignment_offset
        put(minIOSize)                        // 26 topology.min_io_size
        put(optimalIOSize)                    // 28 topology.opt_io_size
        put(UInt8(0))                         // 32 writeback (no CONFIG_WCE)
        put(UInt8(0))                         // 33 unused0
        put(numQueues)                        // 34 num_queues
        put(maxDiscardSectors)                // 36
        put(maxDiscardSegments)               // 40
        put(discardSectorAlignment)           // 44
        put(maxWriteZeroesSectors)            // 48
        put(maxWriteZeroesSegments)           // 52
        put(UInt8(writeZeroesMayUnmap ? 1 : 0)) // 56
        out.append(contentsOf: [0, 0, 0])     // 57 unused1
        put(UInt32(0))                        // 60 max_secure_erase_sectors
        put(UInt32(0))                        // 64 max_secure_erase_seg
        put(UInt32(0))                        // 68 secure_erase_sector_alignment
        return out
    }
}
