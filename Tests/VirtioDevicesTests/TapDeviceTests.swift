import Glibc
import Testing
@testable import VirtioDevices

private let canOpenTun = access("/dev/net/tun", R_OK | W_OK) == 0 && getuid() == 0

@Suite("tap device") struct TapDeviceTests {
    @Test("a created tap takes the vnet header and offload ioctls, and vanishes when closed",
          .enabled(if: canOpenTun, "SKIP: needs root and /dev/net/tun"))
    func createAndOffload() throws {
        let name = "swdmt\(getpid() % 100_000)"
        do {
            let tap = try TapDevice(name: name)
            #expect(tap.name == name)
            #expect(access("/sys/class/net/\(name)", F_OK) == 0)
            try tap.setOffloads([.checksum, .tso4, .tso6, .tsoECN])
            try tap.setOffloads([])
            // Nothing is queued on a fresh tap: a non-blocking read says so instead of blocking.
            var buffer = [UInt8](repeating: 0, count: 2048)
            let got = try buffer.withUnsafeMutableBytes { try tap.receive(into: [$0]) }
            #expect(got == nil)
        }
        #expect(access("/sys/class/net/\(name)", F_OK) != 0, "a tap swiftdm created is not persistent")
    }

    @Test("bad interface names are refused with the name in the error")
    func badName() {
        #expect(throws: PacketBackendError.invalidName("a/b")) { try TapDevice(name: "a/b") }
        #expect(throws: PacketBackendError.invalidName("")) { try TapDevice(name: "") }
        #expect(throws: PacketBackendError.invalidName("0123456789abcdefg")) { try TapDevice(name: "0123456789abcdefg") }
    }

    @Test("MAC addresses parse strictly")
    func macParsing() {
        #expect(MACAddress("52:54:00:12:34:56")?.bytes == [0x52, 0x54, 0, 0x12, 0x34, 0x56])
        #expect(MACAddress("52:54:00:12:34") == nil)
        #expect(MACAddress("52:54:00:12:34:zz") == nil)
        #expect(MACAddress("ff:ff:ff:ff:ff:ff")?.isBroadcast == true)
    }
}
