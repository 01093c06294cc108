import DeviceModel
import Testing
@testable import VhostUser
#if canImport(Glibc)
import Glibc
#endif

/// Every malformed message ends the connection with a clear error; the backend survives
/// and serves the next frontend.
@Suite("vhost-user malformed messages")
struct MalformedMessageTests {
    /// Runs `attack` on a fresh connection, checks that the backend closed it with an error
    /// matching `expected`, and that a new frontend is then served normally.
    private func expectRejected(setUp: (FakeFrontend) -> Void = { _ in },
                                _ attack: (FakeFrontend) -> Void,
                                _ expected: (VhostUserError) -> Bool,
                                sourceLocation: SourceLocation = #_sourceLocation) throws {
        let h = try BackendHarness()
        let f = h.connect()
        setUp(f)
        #expect(f.sync(), "set-up must be accepted", sourceLocation: sourceLocation)
        attack(f)
        #expect(f.waitForClose(), "connection must be closed", sourceLocation: sourceLocation)
        let end = try #require(h.nextEnd(), "session end must be reported", sourceLocation: sourceLocation)
        let error = try #require(end, "the connection must end with an error", sourceLocation: sourceLocation)
        #expect(expected(error), "unexpected error: \(error)", sourceLocation: sourceLocation)
        #expect(!error.description.isEmpty)
        // The backend is still alive.
        let g = h.connect()
        #expect(g.sync(), sourceLocation: sourceLocation)
    }

    private let ram = FakeFrontend.ramSize

    @Test func badPayloadSize() throws {
        try expectRejected({ $0.send(.setFeatures, payload: [1, 2, 3, 4]) }) {
            if case .badPayloadSize("SET_FEATURES", 4, _) = $0 { true } else { false }
        }
    }

    @Test func payloadOnRequestWithoutOne() throws {
        try expectRejected({ $0.send(.getFeatures, payload: FakeFrontend.le64(0)) }) {
            if case .badPayloadSize("GET_FEATURES", 8, _) = $0 { true } else { false }
        }
    }

    @Test func unknownRequestWithNeedReply() throws {
        try expectRejected({ $0.sendRaw(VhostUserHeader(request: 999, flags: 0x9, size: 0).encoded) }) {
            $0 == .unknownRequest(999)
        }
    }

    @Test func unknownRequestWithoutNeedReplyIsSkipped() throws {
        let h = try BackendHarness()
        let f = h.connect()
        f.sendRaw(VhostUserHeader(request: 999, flags: 1, size: 4).encoded + [1, 2, 3, 4])
        #expect(f.sync())
    }

    @Test func wrongVersion() throws {
        try expectRejected({ $0.sendRaw(VhostUserHeader(request: 1, flags: 2, size: 0).encoded) }) {
            $0 == .unsupportedVersion(flags: 2)
        }
    }

    @Test func hugePayload() throws {
        try expectRejected({ $0.sendRaw(VhostUserHeader(request: 2, flags: 1, size: 1 << 20).encoded) }) {
            if case .payloadTooLarge(_, 1 << 20, _) = $0 { true } else { false }
        }
    }

    @Test func truncatedMessage() throws {
        let h = try BackendHarness()
        let f = h.connect()
        f.sendRaw(VhostUserHeader(request: 2, flags: 1, size: 8).encoded + [1, 2])
        shutdown(f.fd, Int32(SHUT_WR))
        let end = try #require(h.nextEnd())
        #expect(end == .truncatedMessage(request: 2, received: 14, expected: 20))
    }

    @Test func tooManyDescriptors() throws {
        let notifiers = try (0..<9).map { _ in try EventNotifier() }
        try expectRejected({ $0.send(.setVringCall, payload: FakeFrontend.le64(0), fds: notifiers.map(\.fd)) }) {
            if case .tooManyFileDescriptors("SET_VRING_CALL", 8) = $0 { true } else { false }
        }
    }

    @Test func descriptorsOnRequestWithoutThem() throws {
        let e = try EventNotifier()
        try expectRejected({ $0.send(.setOwner, fds: [e.fd]) }) {
            $0 == .unexpectedFileDescriptors(request: "SET_OWNER", received: 1, expected: 0)
        }
    }

    @Test func regionCountMismatch() throws {
        try expectRejected({ f in
            f.send(.setMemTable, payload: FakeFrontend.memTable([(0, 0x1000, 0x10000, 0), (0x1000, 0x1000, 0x20000, 0x1000)]),
                   fds: [f.memoryFD])
        }) { $0 == .unexpectedFileDescriptors(request: "SET_MEM_TABLE", received: 1, expected: 2) }
    }

    @Test func tooManyRegions() throws {
        var payload = FakeFrontend.memTable([(0, 0x1000, 0, 0)])
        payload.replaceSubrange(0..<4, with: FakeFrontend.le(9, 4))
        try expectRejected({ f in f.send(.setMemTable, payload: payload, fds: [f.memoryFD]) }) {
            $0 == .invalidRegionCount(9, maximum: 8)
        }
    }

    @Test func overlappingRegions() throws {
        try expectRejected({ f in
            f.send(.setMemTable, payload: FakeFrontend.memTable([(0, 0x2000, 0x100000, 0), (0x1000, 0x1000, 0x200000, 0)]),
                   fds: [f.memoryFD, f.memoryFD])
        }) { $0 == .regionsOverlap(space: "guest-physical", first: 0, second: 1) }
    }

    @Test func overlappingFrontendAddresses() throws {
        try expectRejected({ f in
            f.send(.setMemTable, payload: FakeFrontend.memTable([(0, 0x2000, 0x100000, 0), (0x10000, 0x1000, 0x101000, 0)]),
                   fds: [f.memoryFD, f.memoryFD])
        }) { $0 == .regionsOverlap(space: "frontend", first: 0, second: 1) }
    }

    @Test func overflowingRegion() throws {
        try expectRejected({ f in
            f.send(.setMemTable, payload: FakeFrontend.memTable([(UInt64.max - 0xfff, 0x2000, 0x100000, 0)]), fds: [f.memoryFD])
        }) { if case .regionOverflow(0, "guest-physical", _, 0x2000) = $0 { true } else { false } }
    }

    @Test func emptyRegion() throws {
        try expectRejected({ f in
            f.send(.setMemTable, payload: FakeFrontend.memTable([(0, 0, 0x100000, 0)]), fds: [f.memoryFD])
        }) { $0 == .emptyRegion(index: 0) }
    }

    @Test func regionBeyondItsFile() throws {
        try expectRejected({ f in
            f.send(.setMemTable, payload: FakeFrontend.memTable([(0, UInt64(2 * FakeFrontend.ramSize), 0x100000, 0)]),
                   fds: [f.memoryFD])
        }) { if case .regionBeyondFile(0, _, _) = $0 { true } else { false } }
    }

    @Test func ringAddressOutsideEveryRegion() throws {
        try expectRejected(setUp: { $0.negotiate() }, { f in
            f.send(.setVringNum, payload: FakeFrontend.state(0, 8))
            f.send(.setVringAddr, payload: FakeFrontend.vringAddr(0, desc: 0xdead_0000, used: FakeFrontend.userBase + 0x3000,
                                                                   avail: FakeFrontend.userBase + 0x2000))
        }) { $0 == .ringAddressUnmapped(index: 0, part: "descriptor table", userAddress: 0xdead_0000, length: 128) }
    }

    @Test func ringStraddlingTheEndOfMemory() throws {
        let used = FakeFrontend.userBase + UInt64(FakeFrontend.ramSize) - 16
        try expectRejected(setUp: { $0.negotiate() }, { f in
            f.send(.setVringNum, payload: FakeFrontend.state(0, 8))
            f.send(.setVringAddr, payload: FakeFrontend.vringAddr(0, desc: FakeFrontend.userBase + 0x1000, used: used,
                                                                   avail: FakeFrontend.userBase + 0x2000))
        }) { $0 == .ringAddressUnmapped(index: 0, part: "used ring", userAddress: used, length: 70) }
    }

    @Test func ringAddressBeforeMemoryTable() throws {
        try expectRejected({ f in
            f.send(.setVringAddr, payload: FakeFrontend.vringAddr(0, desc: 0x1000, used: 0x3000, avail: 0x2000))
        }) { $0 == .noMemoryTable(request: "SET_VRING_ADDR") }
    }

    @Test func misalignedRing() throws {
        try expectRejected(setUp: { $0.negotiate() }, { f in
            f.setUpRing()
            f.send(.setVringAddr, payload: FakeFrontend.vringAddr(0, desc: FakeFrontend.userBase + 0x1004,
                                                                   used: FakeFrontend.userBase + 0x3000,
                                                                   avail: FakeFrontend.userBase + 0x2000))
        }) { if case .invalidRing(0, .misalignedRing) = $0 { true } else { false } }
    }

    @Test func ringIndexOutOfRange() throws {
        try expectRejected({ $0.send(.setVringNum, payload: FakeFrontend.state(5, 8)) }) {
            $0 == .invalidRingIndex(request: "SET_VRING_NUM", index: 5, count: 1)
        }
    }

    @Test func ringSizeNotPowerOfTwo() throws {
        try expectRejected({ $0.send(.setVringNum, payload: FakeFrontend.state(0, 100)) }) {
            $0 == .invalidRingSize(index: 0, size: 100)
        }
    }

    @Test func ringSizeTooLarge() throws {
        try expectRejected({ $0.send(.setVringNum, payload: FakeFrontend.state(0, 65536)) }) {
            $0 == .invalidRingSize(index: 0, size: 65536)
        }
    }

    @Test func featuresNotOffered() throws {
        try expectRejected({ $0.send(.setFeatures, payload: FakeFrontend.le64(1 << 63)) }) {
            if case .featuresNotOffered(1 << 63, _) = $0 { true } else { false }
        }
    }

    @Test func unofferedDeviceFeatureRefusedBesideATransportOne() throws {
        // An unoffered transport bit (40, which QEMU 7.2's vhost-user-input acks) is masked
        // off; an unoffered device bit beside it still ends the connection.
        try expectRejected({ $0.send(.setFeatures, payload: FakeFrontend.le64(1 << 40 | 1 << 23)) }) {
            if case .featuresNotOffered(_, _) = $0 { true } else { false }
        }
    }

    @Test func protocolFeaturesNotOffered() throws {
        try expectRejected({ $0.send(.setProtocolFeatures, payload: FakeFrontend.le64(1 << 12)) }) {
            if case .protocolFeaturesNotOffered(1 << 12, _) = $0 { true } else { false }
        }
    }

    @Test func configWithoutNegotiation() throws {
        try expectRejected({ $0.send(.getConfig, payload: FakeFrontend.state(0, 4) + FakeFrontend.le(0, 4) + [0, 0, 0, 0]) }) {
            if case .notNegotiated("GET_CONFIG", _) = $0 { true } else { false }
        }
    }

    @Test func configOutOfRange() throws {
        try expectRejected(setUp: { $0.negotiate() }, { f in
            f.send(.getConfig, payload: FakeFrontend.state(250, 8) + FakeFrontend.le(0, 4) + [UInt8](repeating: 0, count: 8))
        }) { $0 == .configOutOfRange(offset: 250, size: 8) }
    }

    @Test func configSizeMismatch() throws {
        try expectRejected(setUp: { $0.negotiate() }, { f in
            f.send(.setConfig, payload: FakeFrontend.state(0, 8) + FakeFrontend.le(0, 4) + [1, 2])
        }) { if case .badPayloadSize("SET_CONFIG", 14, _) = $0 { true } else { false } }
    }

    @Test func dirtyLogging() throws {
        try expectRejected({ $0.send(.setLogBase, payload: FakeFrontend.le64(0) + FakeFrontend.le64(0)) }) {
            if case .unsupported("SET_LOG_BASE", _) = $0 { true } else { false }
        }
    }

    @Test func ringLoggingFlag() throws {
        try expectRejected(setUp: { $0.negotiate() }, { f in
            f.send(.setVringAddr, payload: FakeFrontend.vringAddr(0, desc: FakeFrontend.userBase + 0x1000,
                                                                   used: FakeFrontend.userBase + 0x3000,
                                                                   avail: FakeFrontend.userBase + 0x2000, flags: 1))
        }) { if case .unsupported("SET_VRING_ADDR", _) = $0 { true } else { false } }
    }

    @Test func pollingKick() throws {
        try expectRejected({ $0.send(.setVringKick, payload: FakeFrontend.le64(0x100)) }) {
            if case .unsupported("SET_VRING_KICK", _) = $0 { true } else { false }
        }
    }

    @Test func kickFlagWithoutDescriptor() throws {
        try expectRejected({ $0.send(.setVringKick, payload: FakeFrontend.le64(0)) }) {
            $0 == .unexpectedFileDescriptors(request: "SET_VRING_KICK", received: 0, expected: 1)
        }
    }

    @Test func inflightNotNegotiated() throws {
        try expectRejected({ $0.send(.getInflightFD, payload: [UInt8](repeating: 0, count: 24)) }) {
            if case .notNegotiated("GET_INFLIGHT_FD", "VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD") = $0 { true } else { false }
        }
    }
}
