import DeviceModel
#if canImport(Glibc)
import Glibc
#endif

/// A saved machine on disk: a directory with the device and processor state
/// (``DeviceStateArchive``, `state`) and guest RAM (``GuestRAMFile``, `ram`). The archive's
/// `machine` record describes the configuration it was taken with; a restore into another
/// configuration (other RAM size, vCPU count or devices) is refused before anything runs.
public struct MachineSnapshot: Sendable {
    public static let stateFileName = "state"
    public static let ramFileName = "ram"
    static let machineRecordID = "machine"

    public let directory: String
    public let archive: DeviceStateArchive

    public var statePath: String { directory + "/" + Self.stateFileName }
    public var ramPath: String { directory + "/" + Self.ramFileName }

    /// Reads and checks `directory`'s state file (RAM is read when the machine is built).
    public init(loading directory: String) throws(MachineError) {
        self.directory = directory
        let path = directory + "/" + Self.stateFileName
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .fileUnusable(option: "--restore", path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw .fileUnusable(option: "--restore", path: path, reason: String(cString: strerror(errno))) }
            if n == 0 { break }
            bytes += chunk[0..<n]
            guard bytes.count <= 256 << 20 else { throw .fileUnusable(option: "--restore", path: path, reason: "larger than 256 MiB") }
        }
        do {
            archive = try DeviceStateArchive(decoding: bytes)
        } catch {
            throw .fileUnusable(option: "--restore", path: path, reason: "\(error)")
        }
    }

    init(directory: String, archive: DeviceStateArchive) {
        self.directory = directory
        self.archive = archive
    }

    /// The `machine` record for `configuration`.
    static func machineRecord(_ configuration: PCConfiguration) -> DeviceStateRecord {
        var r = DeviceStateRecord(id: machineRecordID, kind: "pc", version: 1)
        r.set("memory-bytes", configuration.memory.bytes)
        r.set("cpus", UInt64(configuration.cpus))
        r.set("devices", string: configuration.devices.map(\.description).joined(separator: "\n"))
        return r
    }

    /// Refuses a snapshot taken with another configuration, naming the difference.
    func check(against configuration: PCConfiguration) throws(MachineError) {
        do throws(DeviceStateError) {
            let r = try archive.record(Self.machineRecordID)
            try r.expect(kind: "pc", versions: 1...1)
            let memory = try r.unsigned("memory-bytes")
            guard memory == configuration.memory.bytes else {
                throw r.invalid("memory-bytes", memory, expected: "\(configuration.memory.bytes) (--memory \(configuration.memory))")
            }
            let cpus = try r.unsigned("cpus")
            guard cpus == UInt64(configuration.cpus) else { throw r.invalid("cpus", cpus, expected: "\(configuration.cpus) (--cpus)") }
            let devices = try r.string("devices")
            let now = configuration.devices.map(\.description).joined(separator: "\n")
            guard devices == now else {
                throw r.invalid("devices", devices.replacingOccurrences(of: "\n", with: "; "),
                                expected: "the same devices in the same order: \(now.replacingOccurrences(of: "\n", with: "; "))")
            }
        } catch {
            throw .deviceState(error)
        }
    }
}

extension String {
    fileprivate func replacingOccurrences(of a: String, with b: String) -> String { split(separator: Character(a), omittingEmptySubsequences: false).joined(separator: b) }
}
