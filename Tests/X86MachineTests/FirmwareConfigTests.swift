import DeviceModel
import Testing
import X86Machine

/// fw_cfg as firmware reads it: select through the 16-bit port, read bytes from the data port.
struct FirmwareConfigTests {
    func read(_ fw: FirmwareConfig, key: UInt16, count: Int) -> [UInt8] {
        fw.write(at: 0, size: 2, value: UInt64(key))
        return (0..<count).map { _ in UInt8(fw.read(at: 1, size: 1)) }
    }

    @Test func signatureIDAndCPUCounts() throws {
        let fw = try FirmwareConfig(cpuCount: 2, files: [])
        #expect(read(fw, key: 0, count: 4) == Array("QEMU".utf8))
        #expect(read(fw, key: 1, count: 4) == [1, 0, 0, 0], "traditional interface, no DMA")
        #expect(read(fw, key: 5, count: 2) == [2, 0])
        #expect(read(fw, key: 0x0F, count: 2) == [2, 0])
        // Past the end, and unknown selectors, read as zero.
        #expect(read(fw, key: 0, count: 6).suffix(2) == [0, 0])
        #expect(read(fw, key: 0x1234, count: 3) == [0, 0, 0])
    }

    @Test func fileDirectoryIsBigEndianAndSorted() throws {
        let fw = try FirmwareConfig(cpuCount: 1, files: [
            .integer("etc/sercon-port", 0x3F8, size: 2),
            FirmwareConfig.File(name: "etc/e820", bytes: [UInt8](repeating: 7, count: 20)),
        ])
        let dir = read(fw, key: 0x19, count: 4 + 2 * 64)
        #expect(dir.prefix(4) == [0, 0, 0, 2])
        let first = Array(dir[4..<68])
        #expect(first.prefix(4) == [0, 0, 0, 20], "size")
        #expect(first[4..<6] == [0, 0x20], "select")
        #expect(String(decoding: first[8...].prefix { $0 != 0 }, as: UTF8.self) == "etc/e820")
        let second = Array(dir[68..<132])
        #expect(second.prefix(4) == [0, 0, 0, 2])
        #expect(second[4..<6] == [0, 0x21])
        #expect(String(decoding: second[8...].prefix { $0 != 0 }, as: UTF8.self) == "etc/sercon-port")
        #expect(read(fw, key: 0x21, count: 2) == [0xF8, 0x03])
        #expect(fw.fileSelectors == ["etc/e820": 0x20, "etc/sercon-port": 0x21])
    }

    @Test func reselectingRewindsAndWritesAreIgnored() throws {
        let fw = try FirmwareConfig(cpuCount: 1, files: [], items: [FirmwareConfig.irq0OverrideKey: [1, 0, 0, 0]])
        #expect(read(fw, key: 0x8002, count: 1) == [1])
        fw.write(at: 1, size: 1, value: 0xFF)  // data writes do nothing
        #expect(read(fw, key: 0x8002, count: 4) == [1, 0, 0, 0])
        // The write-channel bit selects the same item; wrong widths are ignored.
        #expect(read(fw, key: 0x4000, count: 2) == Array("QE".utf8))
        fw.write(at: 0, size: 1, value: 1)  // not a selector write: the offset keeps going
        #expect(fw.read(at: 1, size: 1) == UInt64(Character("M").asciiValue!))
        #expect(fw.read(at: 1, size: 4) == 0)
        #expect(fw.read(at: 0, size: 2) == 0)
    }

    @Test func badFileTablesAreRejected() {
        let long = String(repeating: "x", count: 56)
        #expect(throws: FirmwareConfigError.fileNameTooLong(long)) {
            try FirmwareConfig(cpuCount: 1, files: [.init(name: long, bytes: [])])
        }
        #expect(throws: FirmwareConfigError.duplicateFile("a")) {
            try FirmwareConfig(cpuCount: 1, files: [.init(name: "a", bytes: []), .init(name: "a", bytes: [1])])
        }
    }

    @Test func servesTheDispatcher() throws {
        let dispatcher = IODispatcher()
        let fw = try FirmwareConfig(cpuCount: 1, files: [])
        try dispatcher.ports.register(base: FirmwareConfig.selectorPort, length: FirmwareConfig.portCount, name: "fw_cfg", handler: fw)
        var select = IORequest.write(.port, 0x510, size: 2, value: 0)
        try dispatcher.dispatch(&select)
        var bytes = [UInt8](repeating: 0, count: 4)
        try bytes.withUnsafeMutableBytes { buf in
            var ins = IORequest(space: .port, address: 0x511, size: 1, direction: .read, data: .hostBuffer(buf.baseAddress!), count: 4)
            try dispatcher.dispatch(&ins)  // `rep insb`, as SeaBIOS reads items
        }
        #expect(bytes == Array("QEMU".utf8))
    }
}
