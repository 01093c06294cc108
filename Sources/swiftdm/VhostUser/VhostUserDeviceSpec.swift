/// The device a `swiftdm vhost-user` process serves, as given on its command line:
/// `--blk PATH[,readonly=on][,serial=ID]`, `--rng`, `--console [stdio|socket=PATH]`,
/// `--net tap=NAME[,mac=MAC]`.
/// These spellings are an interface other tools rely on.
enum VhostUserDeviceSpec: Equatable, CustomStringConvertible {
    case block(path: String, readOnly: Bool, serial: String?)
    case entropy
    case console(ConsoleEndpoint)
    /// virtio-net on a tap interface (the same syntax as `swiftdm run --net`).
    case net(NetSpec)

    enum ConsoleEndpoint: Equatable {
        /// The backend's own standard input and output.
        case stdio
        /// A UNIX socket the backend listens on; one client at a time is the console.
        case socket(path: String)
    }

    struct ParseError: Error, CustomStringConvertible {
        let description: String
    }

    var description: String {
        switch self {
        case .block(let path, let ro, let serial):
            "virtio-blk \(path)\(ro ? " (read-only)" : "")\(serial.map { " serial \($0)" } ?? "")"
        case .entropy: "virtio-rng"
        case .console(.stdio): "virtio-console on stdio"
        case .console(.socket(let p)): "virtio-console (host end: socket \(p))"
        case .net(let n): "virtio-net on tap \(n.tap)\(n.mac.map { " mac \($0)" } ?? "")"
        }
    }

    /// Parses `PATH[,readonly=on|off][,serial=ID]`. A path containing commas is written with
    /// doubled commas, as in QEMU (`a,,b` is the file `a,b`).
    static func block(_ value: String) throws -> VhostUserDeviceSpec {
        let parts = splitOptions(value)
        guard let path = parts.first, !path.isEmpty else { throw ParseError(description: "--blk needs a PATH") }
        var readOnly = false
        var serial: String?
        for option in parts.dropFirst() {
            let kv = option.split(separator: "=", maxSplits: 1).map(String.init)
            switch (kv.first, kv.count == 2 ? kv[1] : nil) {
            case ("readonly", "on"?), ("readonly", "true"?), ("readonly", nil): readOnly = true
            case ("readonly", "off"?), ("readonly", "false"?): readOnly = false
            case ("serial", let id?):
                // virtio-blk's GET_ID answer is at most 20 bytes (virtio 1.2 §5.2.6).
                guard id.utf8.count <= 20 else { throw ParseError(description: "serial '\(id)' is longer than 20 bytes") }
                serial = id
            default:
                throw ParseError(description: "unknown --blk option '\(option)' (expected readonly=on|off or serial=ID)")
            }
        }
        return .block(path: path, readOnly: readOnly, serial: serial)
    }

    /// Parses `stdio` or `socket=PATH`.
    static func console(_ value: String) throws -> VhostUserDeviceSpec {
        if value == "stdio" { return .console(.stdio) }
        if value.hasPrefix("socket="), value.count > "socket=".count {
            return .console(.socket(path: String(value.dropFirst("socket=".count))))
        }
        throw ParseError(description: "--console takes 'stdio' or 'socket=PATH', not '\(value)'")
    }

    /// Parses `tap=NAME[,mac=MAC]`.
    static func net(_ value: String) throws -> VhostUserDeviceSpec {
        do {
            return .net(try NetSpec(parsing: value))
        } catch {
            throw ParseError(description: error.description)
        }
    }

    private static func splitOptions(_ value: String) -> [String] {
        var parts: [String] = []
        var current = ""
        var chars = Array(value)[...]
        while let c = chars.popFirst() {
            if c == "," {
                if chars.first == "," {
                    current.append(",")
                    chars.removeFirst()
                } else {
                    parts.append(current)
                    current = ""
                }
            } else {
                current.append(c)
            }
        }
        parts.append(current)
        return parts
    }
}
