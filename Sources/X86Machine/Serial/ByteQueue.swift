/// A bounded FIFO of bytes with O(1) amortised push and pop.
struct ByteQueue {
    private var storage: [UInt8] = []
    private var head = 0
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    var count: Int { storage.count - head }
    var isEmpty: Bool { count == 0 }
    var isFull: Bool { count >= capacity }
    var freeSpace: Int { capacity - count }

    /// Appends `byte`; returns false (and drops it) when the queue is full.
    @discardableResult
    mutating func push(_ byte: UInt8) -> Bool {
        guard !isFull else { return false }
        storage.append(byte)
        return true
    }

    mutating func pop() -> UInt8? {
        guard head < storage.count else { return nil }
        let b = storage[head]
        head += 1
        // Compact once the consumed prefix dominates, keeping pops O(1) amortised.
        if head >= 4096 || head == storage.count {
            storage.removeFirst(head)
            head = 0
        }
        return b
    }

    /// The queued bytes, oldest first.
    var contents: [UInt8] { Array(storage[head...]) }

    mutating func removeAll() {
        storage.removeAll(keepingCapacity: true)
        head = 0
    }
}
