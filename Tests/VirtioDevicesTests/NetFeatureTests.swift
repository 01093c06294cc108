import DeviceModel
import HostIO
import Testing
import Virtio
@testable import VirtioDevices
import VirtioTesting

/// Feature offers and their §5.1.3.1 dependencies, without a driver.
@Suite("virtio-net features") struct NetFeatureTests {
    typealias F = VirtioNetFeature

    @Test("the offer follows the backend's offloads and never breaks a §5.1.3.1 requirement",
          arguments: [PacketOffloads.all, [.checksum, .tso4, .tso6, .tsoECN, .ufo], [.checksum], [.tso4, .tso6], []])
    func offerIsConsistent(offloads: PacketOffloads) throws {
        let device = try VirtioNetDevice(configuration: VirtioNetConfiguration(), backend: SocketPairPacketBackend(supportedOffloads: offloads))
        let offered = device.offeredFeatures
        #expect(F.effective(offered) == offered, "offered \(F.describe(offered))")
        #expect(offered & (F.csum | F.guestCsum) == (offloads.contains(.checksum) ? F.csum | F.guestCsum : 0))
        #expect(offered & (F.hostUSO | F.guestUSO4 | F.guestUSO6) == (offloads == .all ? F.hostUSO | F.guestUSO4 | F.guestUSO6 : 0))
        #expect(offered & F.hostTSO4 == (offloads.isSuperset(of: [.checksum, .tso4]) ? F.hostTSO4 : 0))
        #expect(F.receiveOffloads(for: offered) == (offloads.contains(.checksum) ? offloads : []))
    }

    @Test("bits whose requirements are missing count as not negotiated")
    func effectiveFeatures() {
        #expect(F.effective(F.guestTSO4 | F.guestECN) == 0, "GUEST_ECN falls with GUEST_TSO4, which needs GUEST_CSUM")
        #expect(F.effective(F.csum | F.hostTSO6 | F.hostECN) == F.csum | F.hostTSO6 | F.hostECN)
        #expect(F.effective(F.ctrlRx | F.ctrlMACAddr | F.mergeableRxBuffers) == F.mergeableRxBuffers)
        #expect(F.receiveOffloads(for: F.guestTSO4) == [])
        #expect(F.receiveOffloads(for: F.guestCsum | F.guestTSO4 | F.guestTSO6 | F.guestECN) == [.checksum, .tso4, .tso6, .tsoECN])
        #expect(F.receiveOffloads(for: F.guestCsum | F.guestUSO4 | F.guestUSO6) == [.checksum, .uso4, .uso6])
    }

    @Test("received headers: offloads the guest did not negotiate are not delivered")
    func deliverableHeaders() {
        typealias H = VirtioNetHeader
        #expect(H.deliverable(flags: H.flagNeedsCsum, gsoType: H.gsoNone, to: [.checksum]))
        #expect(!H.deliverable(flags: H.flagNeedsCsum, gsoType: H.gsoNone, to: []))
        #expect(H.deliverable(flags: H.flagDataValid, gsoType: H.gsoNone, to: []))
        #expect(H.guestFlags(H.flagDataValid | H.flagRSCInfo, for: []) == 0)
        #expect(H.guestFlags(H.flagDataValid | H.flagRSCInfo, for: [.checksum]) == H.flagDataValid)
        #expect(H.deliverable(flags: 1, gsoType: H.gsoTCPv6 | H.gsoECN, to: [.checksum, .tso6, .tsoECN]))
        #expect(!H.deliverable(flags: 1, gsoType: H.gsoTCPv6 | H.gsoECN, to: [.checksum, .tso6]))
        #expect(!H.deliverable(flags: 1, gsoType: H.gsoUDPL4, to: [.checksum, .tso4, .tso6]))
        #expect(!H.deliverable(flags: 0, gsoType: 7, to: .all), "unknown GSO type")
        #expect(H.size(for: VirtioFeature.version1) == 12 && H.size(for: F.mergeableRxBuffers) == 12 && H.size(for: 0) == 10)
    }

    @Test("configuration limits are checked when the device is made")
    func configurationLimits() {
        #expect(throws: VirtioNetError.invalidMTU(67)) {
            try VirtioNetDevice(configuration: VirtioNetConfiguration(mtu: 67), backend: SocketPairPacketBackend())
        }
        #expect(throws: VirtioNetError.invalidQueueSize(100)) {
            try VirtioNetDevice(configuration: VirtioNetConfiguration(queueSize: 100), backend: SocketPairPacketBackend())
        }
        #expect(F.describe(F.csum | F.hostUSO | 1 << 63) == "CSUM HOST_USO bit 63")
    }
}
