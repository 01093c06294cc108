import DeviceModel
import Virtio

/// A resource's backing: the guest's scatter list (`virtio_gpu_mem_entry`), read as one
/// byte stream. Entries were checked to lie in guest RAM when attached; every read goes
/// through ``GuestMemory`` again, so a later change of the memory map fails a read instead
/// of reaching outside RAM.
struct GPUBacking {
    /// The non-empty entries in order.
    let entries: [GuestBuffer]
    /// Offset of each entry in the stream.
    private let starts: [Int]
    /// Total bytes.
    let length: Int

    init(entries: [GuestBuffer]) {
        self.entries = entries.filter { $0.length > 0 }
        var starts: [Int] = []
        starts.reserveCapacity(self.entries.count)
        var total = 0
        for e in self.entries {
            starts.append(total)
            total += Int(e.length)
        }
        self.starts = starts
        self.length = total
    }

    /// Copies `destination.count` bytes from stream offset `offset`. The caller checked that
    /// `offset + destination.count <= length`.
    func read(at offset: Int, into destination: UnsafeMutableRawBufferPointer, memory: any GuestMemory) throws(GuestMemoryError) {
        guard destination.count > 0 else { return }
        guard offset >= 0, offset + destination.count <= length else {
            throw .overflow(gpa: UInt64(clamping: offset), length: destination.count)
        }
        // The last entry starting at or before `offset`.
        var low = 0, high = starts.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if starts[mid] <= offset { low = mid } else { high = mid - 1 }
        }
        var index = low
        var within = offset - starts[index]
        var done = 0
        while done < destination.count, index < entries.count {
            let entry = entries[index]
            let n = min(Int(entry.length) - within, destination.count - done)
            try memory.read(into: UnsafeMutableRawBufferPointer(rebasing: destination[done..<done + n]),
                            from: entry.address &+ UInt64(within))
            done += n
            index += 1
            within = 0
        }
    }
}
