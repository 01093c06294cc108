import DeviceModel
import Synchronization
import Testing

private final class NullHandler: IOHandler {
    func read(at offset: UInt64, size: Int) -> UInt64 { 0 }
    func write(at offset: UInt64, size: Int, value: UInt64) {}
}

@Suite struct AddressSpaceObserverTests {
    @Test func observerSeesExistingThenLaterChangesInOrder() throws {
        let space = AddressSpace(space: .memory)
        try space.register(base: 0x1000, length: 0x100, name: "a", handler: NullHandler())
        let seen = Mutex<[AddressSpaceChange]>([])
        let token = space.addObserver { change in seen.withLock { $0.append(change) } }
        try space.register(base: 0x2000, length: 0x10, name: "b", handler: NullHandler())
        try space.unregister(base: 0x1000)
        // A refused registration is not reported.
        #expect(throws: AddressSpaceError.self) { try space.register(base: 0x2008, length: 8, name: "c", handler: NullHandler()) }
        space.removeObserver(token)
        try space.register(base: 0x3000, length: 0x10, name: "d", handler: NullHandler())
        #expect(seen.withLock { $0 } == [
            .added(AddressRange(base: 0x1000, length: 0x100)!, name: "a"),
            .added(AddressRange(base: 0x2000, length: 0x10)!, name: "b"),
            .removed(AddressRange(base: 0x1000, length: 0x100)!, name: "a"),
        ])
    }
}
