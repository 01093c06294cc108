import QMP
#if canImport(Glibc)
import Glibc
#endif

/// The PCI slots on bus 0 that the domain's other device model (qemu-xen, started by libxl)
/// occupies, asked over its QMP socket with `query-pci`, so that swiftdm serving beside it
/// never takes one of them: Xen routes a function's config cycles to a single ioreq server,
/// and a second claim would hide qemu-xen's device.
enum PeerDeviceModelSlots {
    /// The sockets libxl gives qemu-xen for domain `domid`: the statistics monitor first
    /// (libxenstat rarely holds it; a QEMU monitor serves one client at a time), then libxl's.
    static func defaultSockets(domid: UInt16) -> [String] {
        ["/var/run/xen/qmp-libxenstat-\(domid)", "/var/run/xen/qmp-libxl-\(domid)"]
    }

    /// What was found.
    struct Answer {
        /// The socket that answered.
        let socket: String
        /// Slot → a description of the first function there (`8086:7000 class 0601`).
        let slots: [UInt8: String]
    }

    /// Asks the first of `sockets` that exists; `nil` when none does (no peer device model).
    static func query(sockets: [String]) throws(QMPClient.Failure) -> Answer? {
        guard let socket = sockets.first(where: { access($0, F_OK) == 0 }) else { return nil }
        let client = try QMPClient(path: socket)
        let buses = try client.execute("query-pci")
        var slots: [UInt8: String] = [:]
        guard case .array(let list) = buses else {
            throw .badMessage(path: socket, reason: "query-pci returned \(buses), not a list of buses")
        }
        for bus in list where bus["bus"]?.integerValue == 0 {
            guard case .array(let devices)? = bus["devices"] else { continue }
            for d in devices {
                guard let slot = d["slot"]?.integerValue, (0..<32).contains(slot) else { continue }
                let vendor = d["id"]?["vendor"]?.integerValue ?? 0xFFFF
                let device = d["id"]?["device"]?.integerValue ?? 0xFFFF
                let cls = d["class_info"]?["class"]?.integerValue ?? 0
                let text = d["qdev_id"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? d["class_info"]?["desc"]?.stringValue ?? "device"
                let hex = { (v: Int64) in String(v, radix: 16).leftPadded(4) }
                slots[UInt8(slot)] = slots[UInt8(slot)] ?? "\(text) \(hex(vendor)):\(hex(device)) class \(hex(cls))"
            }
        }
        return Answer(socket: socket, slots: slots)
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
