#if canImport(Glibc)
import Glibc
#endif

/// A virtio-blk driver on a ``FakeFrontend``'s ring, as a guest's would be: each request is a
/// three-descriptor chain (16-byte header, data, status byte) in a fixed slot of guest RAM;
/// completions are read back from the used ring.
final class BlockFrontend {
    enum Kind: Equatable { case write, read, flush }

    struct Request {
        var kind: Kind
        var sector: UInt64
        var data: [UInt8]
        /// Sectors a read asked for.
        var readSectors: Int
        var slot: Int
    }

    static let sectorSize = 512
    static let maxSectors = 8
    static let typeRead: UInt32 = 0, typeWrite: UInt32 = 1, typeFlush: UInt32 = 4

    let frontend: FakeFrontend
    private var freeSlots: [Int]
    /// Requests made available and not yet seen in the used ring, by head.
    private(set) var inflight: [UInt16: Request] = [:]
    /// Used entries read so far (the next used slot to look at).
    private(set) var seenUsed: UInt16 = 0
    private(set) var completed = 0
    /// Used entries whose id was not a request in flight (a duplicate or invented completion).
    private(set) var unexpectedUsedIDs: [UInt32] = []

    /// Uses `frontend`'s ring (whose size fixes the number of slots: three descriptors each).
    init(_ frontend: FakeFrontend) {
        self.frontend = frontend
        freeSlots = Array((0..<Int(frontend.ringSize) / 3).reversed())
    }

    var hasFreeSlot: Bool { !freeSlots.isEmpty }

    private func slotGPA(_ slot: Int) -> UInt64 { FakeFrontend.dataGPA + UInt64(slot) * 0x2000 }
    private func statusGPA(_ slot: Int) -> UInt64 { slotGPA(slot) + 0x10 }
    private func dataGPA(_ slot: Int) -> UInt64 { slotGPA(slot) + 0x1000 }

    /// Makes a request available and kicks; `nil` when every slot is in use.
    @discardableResult
    func submit(_ kind: Kind, sector: UInt64 = 0, data: [UInt8] = [], readSectors: Int = 0) -> UInt16? {
        guard let slot = freeSlots.popLast() else { return nil }
        let head = UInt16(3 * slot)
        let type: UInt32 = switch kind { case .write: Self.typeWrite; case .read: Self.typeRead; case .flush: Self.typeFlush }
        frontend.write(FakeFrontend.le(UInt64(type), 4) + FakeFrontend.le(0, 4) + FakeFrontend.le64(sector), at: slotGPA(slot))
        frontend.write([0xff], at: statusGPA(slot))
        var next = head + 1
        frontend.writeDescriptor(head, address: slotGPA(slot), length: 16, flags: 1, next: next)
        switch kind {
        case .write:
            frontend.write(data, at: dataGPA(slot))
            frontend.writeDescriptor(next, address: dataGPA(slot), length: UInt32(data.count), flags: 1, next: next + 1)
            next += 1
        case .read:
            frontend.writeDescriptor(next, address: dataGPA(slot), length: UInt32(readSectors * Self.sectorSize), flags: 3, next: next + 1)
            next += 1
        case .flush:
            break
        }
        frontend.writeDescriptor(next, address: statusGPA(slot), length: 1, flags: 2, next: 0)
        inflight[head] = Request(kind: kind, sector: sector, data: data, readSectors: readSectors, slot: slot)
        frontend.makeAvailable(head)
        return head
    }

    /// Every request the used ring returned since the last call, with its status byte (and,
    /// for a read, the data).
    func reap() -> [(request: Request, status: UInt8, readData: [UInt8])] {
        var out: [(Request, UInt8, [UInt8])] = []
        let used = frontend.usedIndex
        while seenUsed != used {
            let e = frontend.usedElement(seenUsed)
            seenUsed &+= 1
            guard e.id <= UInt32(UInt16.max), let r = inflight.removeValue(forKey: UInt16(e.id)) else {
                unexpectedUsedIDs.append(e.id)
                continue
            }
            let status = frontend.read(at: statusGPA(r.slot), count: 1)[0]
            // The used length is the backend's claim: never read past the request's buffer.
            let length = min(max(Int(e.length) - 1, 0), r.readSectors * Self.sectorSize)
            let data = r.kind == .read ? frontend.read(at: dataGPA(r.slot), count: length) : []
            freeSlots.append(r.slot)
            completed += 1
            out.append((r, status, data))
        }
        return out
    }
}
