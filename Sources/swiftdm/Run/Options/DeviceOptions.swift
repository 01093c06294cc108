/// How virtio devices attach to the machine (`--transport`, and per disk `transport=`).
enum VirtioTransportChoice: String, CaseIterable, Hashable {
    /// Modern virtio-pci (virtio 1.x only, device IDs 0x1040 + type).
    case pci
    /// Transitional virtio-pci: modern plus the legacy I/O BAR, for pre-1.0 drivers.
    case pciTransitional = "pci-transitional"
    /// virtio-mmio (version 2) in the machine's virtio-mmio window.
    case mmio

    init(parsing text: String, option: String) throws(RunError) {
        guard let t = VirtioTransportChoice(rawValue: text) else {
            throw .badValue(option: option, value: text, expected: "expected pci, pci-transitional or mmio")
        }
        self = t
    }
}

/// Where the guest's console is (`--console`): the 16550A UART, or a virtio console.
enum ConsoleChoice: String, CaseIterable, Hashable {
    case serial
    case virtio

    init(parsing text: String) throws(RunError) {
        guard let c = ConsoleChoice(rawValue: text) else {
            throw .badValue(option: "--console", value: text, expected: "expected serial or virtio")
        }
        self = c
    }
}

/// Splits `text` at commas into its first field and `key=value` options; `,,` stands for a literal
/// comma (QEMU's convention, so paths may contain commas).
func splitOptionList(_ text: String) -> (head: String, options: [(key: String, value: String)]) {
    var fields: [String] = []
    var current = ""
    var chars = Array(text)[...]
    while let c = chars.popFirst() {
        if c == "," {
            if chars.first == "," {
                current.append(",")
                chars = chars.dropFirst()
            } else {
                fields.append(current)
                current = ""
            }
        } else {
            current.append(c)
        }
    }
    fields.append(current)
    return (head: fields[0], options: fields.dropFirst().map(splitKeyValue))
}

/// `key=value` → (key, value); a field without `=` is a key with an empty value.
func splitKeyValue(_ field: String) -> (key: String, value: String) {
    guard let eq = field.firstIndex(of: "=") else { return (key: field, value: "") }
    return (key: String(field[..<eq]), value: String(field[field.index(after: eq)...]))
}

/// One `--disk PATH[,readonly=on][,serial=ID][,transport=pci|mmio]` (`pci-transitional` too).
struct DiskSpec: Hashable {
    /// virtio-blk's serial (`VIRTIO_BLK_ID_BYTES`) is at most 20 bytes.
    static let maximumSerialLength = 20

    var path: String
    var readOnly = false
    var serial: String?
    /// `nil`: the machine-wide `--transport`.
    var transport: VirtioTransportChoice?

    init(path: String, readOnly: Bool = false, serial: String? = nil, transport: VirtioTransportChoice? = nil) {
        self.path = path
        self.readOnly = readOnly
        self.serial = serial
        self.transport = transport
    }

    init(parsing text: String) throws(RunError) {
        let (head, options) = splitOptionList(text)
        guard !head.isEmpty else {
            throw .badValue(option: "--disk", value: text, expected: "expected PATH[,readonly=on][,serial=ID][,transport=pci|mmio]")
        }
        path = head
        for (key, value) in options {
            switch key {
            case "readonly":
                switch value {
                case "on", "yes", "true": readOnly = true
                case "off", "no", "false": readOnly = false
                default: throw .badValue(option: "--disk readonly", value: value, expected: "expected on or off")
                }
            case "serial":
                guard !value.isEmpty, value.utf8.count <= Self.maximumSerialLength, value.allSatisfy({ $0.isASCII && !$0.isNewline }) else {
                    throw .badValue(option: "--disk serial", value: value, expected: "expected 1 to 20 ASCII characters")
                }
                serial = value
            case "transport":
                transport = try VirtioTransportChoice(parsing: value, option: "--disk transport")
            default:
                throw .badValue(option: "--disk", value: text, expected: "unknown disk option '\(key)' (readonly, serial, transport)")
            }
        }
    }
}

/// One `--net tap=NAME[,mac=MAC]`.
struct NetSpec: Hashable {
    /// Linux interface names are at most IFNAMSIZ - 1 = 15 bytes.
    static let maximumInterfaceNameLength = 15

    var tap: String
    var mac: MACAddress?

    init(tap: String, mac: MACAddress? = nil) {
        self.tap = tap
        self.mac = mac
    }

    init(parsing text: String) throws(RunError) {
        let (head, options) = splitOptionList(text)
        var tap: String?
        var mac: MACAddress?
        for (key, value) in [splitKeyValue(head)] + options {
            switch key {
            case "tap":
                guard !value.isEmpty, value.utf8.count <= Self.maximumInterfaceNameLength, !value.contains("/"),
                    value.allSatisfy({ $0.isASCII && !$0.isWhitespace })
                else {
                    throw .badValue(option: "--net tap", value: value, expected: "expected an interface name of 1 to 15 characters")
                }
                tap = value
            case "mac":
                mac = try MACAddress(parsing: value)
            default:
                throw .badValue(option: "--net", value: text, expected: "expected tap=NAME[,mac=MAC]")
            }
        }
        guard let tap else { throw .badValue(option: "--net", value: text, expected: "expected tap=NAME[,mac=MAC]") }
        self.tap = tap
        self.mac = mac
    }
}
