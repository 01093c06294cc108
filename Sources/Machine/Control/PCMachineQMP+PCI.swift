import DeviceModel
import QMP

/// `query-pci` (qapi/pci.json): bus 0 as the guest sees it, read through configuration space.
extension PCMachineQMP {
    /// QEMU's descriptions (`hw/pci/pci.c` `pci_class_descriptions`) of the classes swiftdm's
    /// functions use.
    static let classDescriptions: [UInt16: String] = [
        0x0100: "SCSI controller", 0x0200: "Ethernet controller", 0x0300: "VGA controller",
        0x0380: "Display controller", 0x0600: "Host bridge", 0x0601: "ISA bridge",
        0x0780: "Communication controller", 0x00ff: "Unclassified device",
    ]

    func queryPCI() -> JSONValue {
        let bus = machine.pciBus
        var devices: [JSONValue] = []
        for slot in UInt8(0)..<32 {
            for function in UInt8(0)..<8 {
                guard let f = bus.function(device: slot, function: function) else { continue }
                devices.append(Self.deviceInfo(f, bus: bus.number, slot: slot, function: function))
            }
        }
        return [["bus": .integer(Int64(bus.number)), "devices": .array(devices)]]
    }

    /// `PciDeviceInfo` for one function.
    static func deviceInfo(_ f: any PCIFunction, bus: UInt8, slot: UInt8, function: UInt8) -> JSONValue {
        let config = f.configSpace
        let classWord = UInt16(truncatingIfNeeded: config.read(at: 0x0A, size: 2))
        var classInfo: [(key: String, value: JSONValue)] = []
        if let desc = classDescriptions[classWord] { classInfo.append(("desc", .string(desc))) }
        classInfo.append(("class", .integer(Int64(classWord))))
        var members: [(key: String, value: JSONValue)] = [
            ("bus", .integer(Int64(bus))), ("slot", .integer(Int64(slot))), ("function", .integer(Int64(function))),
            ("class_info", .object(classInfo)),
            ("id", [
                "device": .integer(Int64(config.deviceID)), "vendor": .integer(Int64(config.vendorID)),
                "subsystem": .integer(Int64(config.subsystemID)), "subsystem-vendor": .integer(Int64(config.subsystemVendorID)),
            ]),
        ]
        if config.interruptPin != .none { members.append(("irq", .integer(Int64(config.interruptLine)))) }
        members.append(("irq_pin", .integer(Int64(config.interruptPin.rawValue))))
        members.append(("qdev_id", ""))
        let regions: [JSONValue] = config.bars.map { index, bar in
            // QEMU reports an unassigned BAR at PCI_BAR_UNMAPPED (all ones).
            let address: JSONValue = config.barAddress(index).map { .count($0) } ?? .integer(-1)
            var r: [(key: String, value: JSONValue)] = [
                ("bar", .integer(Int64(index))), ("type", bar.kind == .io ? "io" : "memory"), ("address", address),
                ("size", .count(bar.size)),
            ]
            switch bar.kind {
            case .io: break
            case .memory32(let prefetchable):
                r += [("prefetch", .bool(prefetchable)), ("mem_type_64", false)]
            case .memory64(let prefetchable):
                r += [("prefetch", .bool(prefetchable)), ("mem_type_64", true)]
            }
            return .object(r)
        }
        members.append(("regions", .array(regions)))
        return .object(members)
    }
}
