import DeviceModel
import DeviceModelTesting
import Glibc
import HostIO
import Testing
@testable import VirtioDevices

private let canCreateTaps: Bool = {
    let ok = access("/dev/net/tun", R_OK | W_OK) == 0 && getuid() == 0
    if !ok { print("SKIP: tap tests need root and /dev/net/tun") }
    return ok
}()

/// A unique tap name for this process and `purpose`.
private func tapName(_ purpose: String) -> String { "swdm\(purpose)\(getpid() % 100_000)" }

@Suite("tap device", .serialized) struct TapDeviceTests {
    @Test("a created tap takes the vnet header and offload ioctls, probes USO, and vanishes when closed",
          .enabled(if: canCreateTaps, "SKIP: needs root and /dev/net/tun"))
    func createAndOffload() throws {
        let name = tapName("t")
        do {
            let tap = try TapDevice(name: name)
            #expect(tap.name == name && tap.created)
            #expect(access("/sys/class/net/\(name)", F_OK) == 0)
            #expect(tap.supportedOffloads.isSuperset(of: [.checksum, .tso4, .tso6, .tsoECN]))
            try tap.setOffloads(tap.supportedOffloads)
            try tap.setOffloads([])
            // Nothing is queued on a fresh tap: a non-blocking read says so instead of blocking.
            var buffer = [UInt8](repeating: 0, count: 2048)
            let got = try buffer.withUnsafeMutableBytes { try tap.receive(into: $0) }
            #expect(got == nil)
        }
        #expect(access("/sys/class/net/\(name)", F_OK) != 0, "a tap swiftdm created is not persistent")
    }

    @Test("attaching to an interface that is not a tap fails with a clear reason",
          .enabled(if: access("/dev/net/tun", R_OK | W_OK) == 0, "SKIP: needs /dev/net/tun"))
    func notATap() {
        do {
            _ = try TapDevice(name: "lo")
            Issue.record("lo accepted as a tap")
        } catch {
            #expect(error == .openFailed(name: "lo", errno: EINVAL, existed: true))
            #expect(error.description.contains("exists and is not a tap"))
        }
    }

    @Test("bad interface names are refused with the name in the error")
    func badName() {
        #expect(throws: PacketBackendError.invalidName("a/b")) { try TapDevice(name: "a/b") }
        #expect(throws: PacketBackendError.invalidName("")) { try TapDevice(name: "") }
        #expect(throws: PacketBackendError.invalidName("0123456789abcdefg")) { try TapDevice(name: "0123456789abcdefg") }
    }

    @Test("a vnet header size the kernel does not take is refused with the size in the error")
    func badVnetHeaderSize() {
        #expect(TapDevice.defaultVnetHeaderSize == VirtioNetHeader.size)
        #expect(throws: PacketBackendError.invalidVnetHeaderSize(8)) { try TapDevice(name: "swdmhdr", vnetHeaderSize: 8) }
        #expect(throws: PacketBackendError.invalidVnetHeaderSize(1 << 40)) {
            try TapDevice(name: "swdmhdr", vnetHeaderSize: 1 << 40)
        }
    }

    @Test("MAC addresses parse strictly")
    func macParsing() {
        #expect(MACAddress("52:54:00:12:34:56")?.bytes == [0x52, 0x54, 0, 0x12, 0x34, 0x56])
        #expect(MACAddress("52:54:00:12:34") == nil)
        #expect(MACAddress("52:54:00:12:34:zz") == nil)
        #expect(MACAddress("ff:ff:ff:ff:ff:ff")?.isBroadcast == true)
        #expect(MACAddress.locallyAdministered(seed: 0xABCDEF).description == "52:54:00:ab:cd:ef")
    }

    @Test("virtio-net over a real tap: a guest frame reaches the host's packet socket and one comes back",
          .enabled(if: canCreateTaps, "SKIP: needs root and /dev/net/tun"),
          arguments: NetTransport.modern)
    func throughRealTap(transport: NetTransport) throws {
        let tap = try TapDevice(name: tapName(transport == .mmio ? "m" : "p"))
        let bed = try NetTestbed(transport, tap: tap)
        try bed.start()
        let host = try PacketSocket(interface: tap.name)
        let guestMAC = bed.device.configuration.mac.bytes

        let out = ethernetFrame(to: [0x02, 0, 0, 0, 0, 1], payload: 300, tag: 0x5A)
        try bed.transmit(netHeader() + out)
        #expect(host.receive(etherType: 0x88B5, timeout: .seconds(5)) == out)

        try bed.postReceiveBuffers(8, size: 1536)
        let back = ethernetFrame(to: guestMAC, payload: 200, tag: 0xA5)
        try host.send(back)
        var got: [UInt8]?
        // The host may send its own frames (IPv6 neighbour discovery) on a fresh interface.
        for _ in 0..<8 {
            let packet = try bed.receivePackets(1)[0]
            if packet.count >= VirtioNetHeader.size + 14, packet[VirtioNetHeader.size + 12] == 0x88, packet[VirtioNetHeader.size + 13] == 0xB5 {
                got = packet
                break
            }
            try bed.postReceiveBuffers(1, size: 1536)
        }
        #expect(got.map { Array($0[VirtioNetHeader.size...]) } == back)
        #expect(got?[10] == 1, "num_buffers")
    }
}
