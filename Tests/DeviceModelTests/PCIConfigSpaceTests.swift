import DeviceModel
import Testing

@Suite("PCI configuration space")
struct PCIConfigSpaceTests {
    @Test func headerFieldsReadBackLittleEndian() {
        let c = PCIConfigSpace(
            vendorID: 0x1AF4, deviceID: 0x1042, classCode: .scsiStorage, revisionID: 1,
            subsystemVendorID: 0x1AF4, subsystemID: 0x0002)
        #expect(c.read(at: 0, size: 4) == 0x1042_1AF4)
        #expect(c.read(at: 8, size: 4) == 0x0100_0001)  // class 01 00 00, rev 1
        #expect(c.read(at: 0x2C, size: 4) == 0x0002_1AF4)
        #expect(c.read(at: 1, size: 1) == 0x1A)
        c.interruptPin = .intA
        #expect(c.read(at: 0x3D, size: 1) == 1)
        #expect(c.classCode == .scsiStorage)
    }

    @Test func readOnlyRegistersIgnoreGuestWrites() {
        let c = PCIConfigSpace(vendorID: 0x8086, deviceID: 0x1234, classCode: .other)
        c.guestWrite(at: 0, size: 4, value: 0xFFFF_FFFF)
        c.guestWrite(at: 8, size: 4, value: 0xFFFF_FFFF)
        c.guestWrite(at: 0x2C, size: 4, value: 0xFFFF_FFFF)
        c.guestWrite(at: 0x3D, size: 1, value: 0xFF)
        c.guestWrite(at: 0x80, size: 4, value: 0xFFFF_FFFF)
        #expect(c.read(at: 0, size: 4) == 0x1234_8086)
        #expect(c.read(at: 8, size: 4) == 0xFF00_0000)
        #expect(c.read(at: 0x2C, size: 4) == 0)
        #expect(c.read(at: 0x3D, size: 1) == 0)
        #expect(c.read(at: 0x80, size: 4) == 0)
        // Writable: interrupt line and cache line size.
        c.guestWrite(at: 0x3C, size: 1, value: 11)
        c.guestWrite(at: 0x0C, size: 1, value: 0x10)
        #expect(c.interruptLine == 11)
        #expect(c.read(at: 0x0C, size: 1) == 0x10)
    }

    @Test func commandRegisterKeepsOnlyImplementedBits() {
        let c = PCIConfigSpace(vendorID: 0x8086, deviceID: 0x1234, classCode: .other)
        c.guestWrite(at: 4, size: 2, value: 0xFFFF)
        #expect(c.read(at: 4, size: 2) == 0x0547)
        #expect(c.command == [.ioSpace, .memorySpace, .busMaster, .parityErrorResponse, .serrEnable, .interruptDisable])
    }

    @Test func statusErrorBitsAreWriteOneToClear() {
        let c = PCIConfigSpace(vendorID: 0x8086, deviceID: 0x1234, classCode: .other)
        c.raiseStatus([.receivedMasterAbort, .detectedParityError, .signaledTargetAbort])
        try! c.addCapability(id: 0x09, body: [4, 0])  // sets the read-only capabilities-list bit
        #expect(c.status == [.receivedMasterAbort, .detectedParityError, .signaledTargetAbort, .capabilitiesList])
        // Writing 0 changes nothing; writing 1 clears only that W1C bit; RO bit 4 stays.
        c.guestWrite(at: 6, size: 2, value: 0)
        #expect(c.status.contains(.receivedMasterAbort))
        c.guestWrite(at: 6, size: 2, value: UInt32(PCIStatus.receivedMasterAbort.rawValue | PCIStatus.capabilitiesList.rawValue))
        #expect(c.status == [.detectedParityError, .signaledTargetAbort, .capabilitiesList])
        // A dword write to command+status: the command half is written, status bits cleared.
        c.guestWrite(at: 4, size: 4, value: 0xFFFF_0002)
        #expect(c.status == [.capabilitiesList])
        #expect(c.command == [.memorySpace])
    }

    @Test func customWriteMasks() {
        let c = PCIConfigSpace(vendorID: 0x8086, deviceID: 0x1234, classCode: .other)
        c.setWritableMask(0x0000_FF0F, at: 0x40, size: 4)
        c.setWriteOneToClearMask(0x0001_0000, at: 0x40, size: 4)
        c.store(0x0003_0000, at: 0x40, size: 4)
        c.guestWrite(at: 0x40, size: 4, value: 0xFFFF_FFFF)
        #expect(c.read(at: 0x40, size: 4) == 0x0002_FF0F)
    }

    @Test func invalidAccessesReadOnesAndAreDropped() {
        let c = PCIConfigSpace(vendorID: 0x8086, deviceID: 0x1234, classCode: .other)
        #expect(c.read(at: 2, size: 4) == 0xFFFF_FFFF)  // crosses a dword boundary
        #expect(c.read(at: 3, size: 2) == 0xFFFF)
        #expect(c.read(at: 256, size: 4) == 0xFFFF_FFFF)  // beyond conventional space
        #expect(c.read(at: -1, size: 1) == 0xFF)
        #expect(c.read(at: 0, size: 3) == 0xFF_FFFF)
        c.guestWrite(at: 0x3B, size: 2, value: 0xFFFF)  // crosses into 0x3C: dropped
        #expect(c.interruptLine == 0)
        let e = PCIConfigSpace(vendorID: 0x8086, deviceID: 0x1234, classCode: .other, extended: true)
        #expect(e.read(at: 0xFFC, size: 4) == 0)
        #expect(e.read(at: 0x1000, size: 4) == 0xFFFF_FFFF)
    }

    @Test func capabilityListWalk() throws {
        let c = PCIConfigSpace(vendorID: 0x8086, deviceID: 0x1234, classCode: .other)
        #expect(c.status.contains(.capabilitiesList) == false)
        #expect(c.capabilities().isEmpty)
        let a = try c.addCapability(id: 0x09, body: [3])  // 3 bytes, padded to 4
        let b = try c.addCapability(id: 0x09, body: Array(repeating: 0xAB, count: 14), writableMask: Array(repeating: 0x0F, count: 14))
        let d = try c.addCapability(id: 0x05, body: [0, 0])
        #expect(a == 0x40)
        #expect(b == 0x44)
        #expect(d == 0x54)
        #expect(c.status.contains(.capabilitiesList))

        // Walk as a driver does: pointer at 0x34, then next pointers until zero.
        var walked: [(UInt32, Int)] = []
        var p = Int(c.read(at: 0x34, size: 1))
        while p != 0 {
            walked.append((c.read(at: p, size: 1), p))
            p = Int(c.read(at: p + 1, size: 1))
        }
        #expect(walked.map(\.0) == [0x09, 0x09, 0x05])
        #expect(walked.map(\.1) == [0x40, 0x44, 0x54])
        #expect(c.capabilities().map(\.offset) == [0x40, 0x44, 0x54])
        #expect(c.findCapability(0x05) == 0x54)

        // The header (ID, next) is read-only; the body follows its mask.
        c.guestWrite(at: 0x44, size: 4, value: 0xFFFF_FFFF)
        #expect(c.read(at: 0x44, size: 4) == 0xAFAF_5409)  // 0xAB: high nibble read-only
    }

    @Test func capabilitySpaceRunsOut() throws {
        let c = PCIConfigSpace(vendorID: 0x8086, deviceID: 0x1234, classCode: .other)
        try c.addCapability(id: 0x09, body: Array(repeating: 0, count: 186))  // 0x40..0xFB
        #expect(throws: PCIError.capabilitySpaceExhausted(needed: 6)) {
            try c.addCapability(id: 0x09, body: [0, 0, 0, 0])
        }
        try c.addCapability(id: 0x09, body: [0, 0])  // exactly fits 0xFC..0xFF
        #expect(throws: PCIError.capabilityMaskMismatch(bodyLength: 2, maskLength: 1)) {
            try c.addCapability(id: 0x09, body: [0, 0], writableMask: [0])
        }
    }

    @Test func extendedCapabilities() throws {
        let conventional = PCIConfigSpace(vendorID: 0x8086, deviceID: 0x1234, classCode: .other)
        #expect(throws: PCIError.extendedCapabilitiesUnavailable) {
            try conventional.addExtendedCapability(id: 0x0B, version: 1, body: [])
        }
        let c = PCIConfigSpace(vendorID: 0x8086, deviceID: 0x1234, classCode: .other, extended: true)
        let first = try c.addExtendedCapability(id: 0x0B, version: 1, body: [1, 2, 3, 4])
        let second = try c.addExtendedCapability(id: 0x0001, version: 2, body: [])
        #expect(first == 0x100)
        #expect(second == 0x108)
        #expect(c.read(at: 0x100, size: 4) == 0x1081_000B)  // next 0x108, version 1, ID 0x000B
        #expect(c.read(at: 0x108, size: 4) == 0x0002_0001)
        #expect(c.read(at: 0x104, size: 4) == 0x0403_0201)
    }

    @Test func multiFunctionBit() {
        let c = PCIConfigSpace(vendorID: 0x8086, deviceID: 0x1234, classCode: .other)
        c.isMultiFunction = true
        #expect(c.read(at: 0x0E, size: 1) == 0x80)
        c.guestWrite(at: 0x0E, size: 1, value: 0)
        #expect(c.isMultiFunction)
    }
}
