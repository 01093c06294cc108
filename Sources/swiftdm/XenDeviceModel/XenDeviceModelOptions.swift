import Machine

/// What libxl asks of a device model, read from the QEMU-style command line it spawns one
/// with (`libxl__build_device_model_args_new` in Xen 4.17): the domain, the QMP sockets, the
/// serial port, and the disks, NICs and RNGs to serve.
///
/// Options whose effect belongs to a part of QEMU swiftdm does not have (VGA, USB, sound,
/// VNC, direct kernel boot, migration, privilege dropping) are refused with one line naming
/// them, except the few libxl passes for every guest that only describe what is absent
/// (`-vnc none`, `-display none`, `-net none`, a VGA device, which is reported and left out).
struct XenDeviceModelOptions {
    /// Where COM1's output goes (`-serial`).
    enum Serial: Equatable {
        case file(String)
        case standardOutput
    }

    var domid: UInt16 = 0
    var name: String?
    /// `-m`, in MiB (informational: Xen owns the guest's memory).
    var memoryMiB: Int?
    /// Every `-mon mode=control` socket and every `-qmp unix:` path.
    var qmpSockets: [String] = []
    var serial: Serial?
    /// `-S`: the guest does not run until `cont`.
    var startPaused = false
    /// `-incoming fd:N`: the device state `xen-save-devices-state` wrote, to load before serving
    /// (`xl restore`).
    var incomingFD: Int32?
    var devices: [VirtioDeviceSpec] = []
    /// What was accepted but not served, to print once at start.
    var notes: [String] = []

    /// Why a command line is refused.
    struct Refusal: Error, Equatable, CustomStringConvertible {
        let description: String
        init(_ text: String) { description = text }
    }

    /// True when `arguments` (without the program name) is a QEMU-style device-model command
    /// line (libxl's), not a `swiftdm` subcommand.
    static func looksLikeQEMUArguments(_ arguments: [String]) -> Bool {
        arguments.contains("-xen-domid")
    }

    /// Options that take no value.
    static let flags: Set<String> = ["-no-shutdown", "-nodefaults", "-no-user-config", "-S", "-nographic", "-no-acpi", "-no-hpet"]

    // swiftlint:disable:next cyclomatic_complexity
    init(parsing arguments: [String]) throws(Refusal) {
        var chardevSockets: [String: String] = [:]
        var monitors: [String] = []
        var drives: [String: QEMUOptionList] = [:]
        var driveOrder: [String] = []
        var ideDrives: [(index: Int, options: QEMUOptionList)] = []
        var netdevs: [String: QEMUOptionList] = [:]
        var deviceLists: [QEMUOptionList] = []
        var sawDomid = false

        var i = 0
        while i < arguments.count {
            var option = arguments[i]
            if option.hasPrefix("--") { option.removeFirst() }
            guard option.hasPrefix("-") else { throw Refusal("unexpected argument '\(option)': expected an option such as -xen-domid") }
            if Self.flags.contains(option) {
                if option == "-S" { startPaused = true }
                i += 1
                continue
            }
            guard i + 1 < arguments.count else { throw Refusal("option \(option) needs a value") }
            let value = arguments[i + 1]
            i += 2
            switch option {
            case "-xen-domid":
                guard let d = UInt16(value), d != 0, d < 0x7FF0 else { throw Refusal("-xen-domid \(value): expected a guest domain id (1…32751)") }
                domid = d
                sawDomid = true
            case "-name":
                name = QEMUOptionList(parsing: value, impliedKey: true).implied ?? value
            case "-m":
                let size = QEMUOptionList(parsing: value, impliedKey: true)
                let text = size.implied ?? size["size"] ?? value
                guard let mib = Int(text.hasSuffix("M") ? String(text.dropLast()) : text), mib > 0 else {
                    throw Refusal("-m \(value): expected a size in MiB")
                }
                memoryMiB = mib
            case "-chardev":
                let list = QEMUOptionList(parsing: value, impliedKey: true)
                guard let id = list["id"] else { throw Refusal("-chardev \(value): no id=") }
                guard list.implied == "socket", let path = list["path"] else {
                    throw Refusal("-chardev \(value): only UNIX socket servers (socket,id=…,path=…,server=on,wait=off) are served")
                }
                guard list["server"] == "on" || list["server"] == "yes" else { throw Refusal("-chardev \(value): only server=on sockets are served") }
                chardevSockets[id] = path
            case "-mon":
                let list = QEMUOptionList(parsing: value, impliedKey: false)
                guard list["mode"] == "control", let chardev = list["chardev"] else {
                    throw Refusal("-mon \(value): only mode=control monitors (QMP) are served")
                }
                monitors.append(chardev)
            case "-qmp":
                let list = QEMUOptionList(parsing: value, impliedKey: true)
                guard let target = list.implied, target.hasPrefix("unix:") else { throw Refusal("-qmp \(value): expected unix:PATH,server=on,wait=off") }
                qmpSockets.append(String(target.dropFirst("unix:".count)))
            case "-monitor":
                guard value == "none" || value == "/dev/null" else { throw Refusal("-monitor \(value): the human monitor is not served; use QMP") }
            case "-serial":
                if value == "none" || value == "null" || value == "/dev/null" {
                    serial = nil
                } else if value.hasPrefix("file:") {
                    serial = .file(String(value.dropFirst("file:".count)))
                } else if value == "stdio" {
                    serial = .standardOutput
                } else {
                    throw Refusal("-serial \(value): only file:PATH, stdio and none are served")
                }
            case "-vnc":
                guard value == "none" else { throw Refusal("-vnc \(value): a Xen guest on swiftdm has no emulated display; set vnc=0 (and vga=\"none\") in the xl config") }
            case "-display":
                guard value == "none" else { throw Refusal("-display \(value): a Xen guest on swiftdm has no emulated display") }
            case "-vga":
                guard value == "none" else { throw Refusal("-vga \(value): a Xen guest on swiftdm has no emulated VGA; set vga=\"none\"") }
            case "-net":
                guard value == "none" else { throw Refusal("-net \(value): use -netdev with -device virtio-net-pci") }
            case "-netdev":
                let list = QEMUOptionList(parsing: value, impliedKey: true)
                let type = list.implied ?? list["type"]
                guard type == "tap", let id = list["id"], let ifname = list["ifname"] else {
                    throw Refusal("-netdev \(value): only type=tap,id=…,ifname=… is served")
                }
                if let script = list["script"], script != "no" { throw Refusal("-netdev \(value): script=\(script): swiftdm runs no scripts; attach the tap yourself") }
                _ = ifname
                netdevs[id] = list
            case "-drive":
                let list = QEMUOptionList(parsing: value, impliedKey: false)
                let unknown = list.unknownKeys(["file", "if", "id", "format", "readonly", "media", "cache", "index", "serial", "aio"])
                guard unknown.isEmpty else { throw Refusal("-drive \(value): unsupported \(unknown.joined(separator: ", "))") }
                guard list["file"] != nil else { throw Refusal("-drive \(value): no file=") }
                guard (list["format"] ?? "raw") == "raw" else { throw Refusal("-drive \(value): only format=raw images are served") }
                guard (list["media"] ?? "disk") == "disk" else { throw Refusal("-drive \(value): media=\(list["media"] ?? ""): CD-ROMs are not served") }
                switch list["if"] ?? "ide" {
                case "none":
                    guard let id = list["id"] else { throw Refusal("-drive \(value): if=none needs an id= for -device") }
                    drives[id] = list
                    driveOrder.append(id)
                case "ide":
                    ideDrives.append((Int(list["index"] ?? "") ?? ideDrives.count, list))
                default:
                    throw Refusal("-drive \(value): if=\(list["if"] ?? ""): only if=none and if=ide are served")
                }
            case "-device":
                let list = QEMUOptionList(parsing: value, impliedKey: true)
                switch list.implied ?? list["driver"] {
                case "cirrus-vga", "VGA", "qxl-vga":
                    notes.append("-device \(value): no emulated VGA on swiftdm (set vga=\"none\" in the xl config); left out")
                default:
                    deviceLists.append(list)
                }
            case "-machine", "-M":
                let list = QEMUOptionList(parsing: value, impliedKey: true)
                guard list.implied == "xenfv" || (list.implied == "pc" && list["accel"] == "xen") else {
                    throw Refusal("-machine \(value): swiftdm serves Xen HVM guests as the xenfv machine")
                }
                let unknown = list.unknownKeys(["accel", "suppress-vmdesc", "max-ram-below-4g"])
                guard unknown.isEmpty else { throw Refusal("-machine \(value): unsupported \(unknown.joined(separator: ", "))") }
            case "-smp", "-boot", "-k":
                // Xen owns the vCPUs; hvmloader and SeaBIOS choose the boot device; no keyboard
                // is emulated.
                break
            case "-kernel", "-initrd", "-append":
                throw Refusal("\(option): direct kernel boot is not served; boot the guest from a disk (see the README)")
            case "-incoming":
                guard value.hasPrefix("fd:"), let fd = Int32(value.dropFirst(3)), fd >= 0 else {
                    throw Refusal("-incoming \(value): only fd:N (libxl's restore) is served")
                }
                incomingFD = fd
            default:
                throw Refusal("option \(option) is not supported by swiftdm's Xen device model")
            }
        }
        guard sawDomid else { throw Refusal("no -xen-domid: this command line is not a Xen device model's") }
        for chardev in monitors {
            guard let path = chardevSockets[chardev] else { throw Refusal("-mon chardev=\(chardev): no such -chardev socket") }
            qmpSockets.append(path)
        }

        // Disks: xl's own disk= list (if=ide, by index) first, then -device ones in order.
        var used: Set<String> = []
        for (_, list) in ideDrives.sorted(by: { $0.index < $1.index }) {
            devices.append(.block(try Self.block(list)))
        }
        for list in deviceLists {
            let driver = list.implied ?? list["driver"] ?? ""
            switch driver {
            case "virtio-blk-pci", "virtio-blk":
                let unknown = list.unknownKeys(["drive", "id", "serial", "bus", "addr", "driver"])
                guard unknown.isEmpty else { throw Refusal("-device \(driver): unsupported \(unknown.joined(separator: ", "))") }
                guard let id = list["drive"], let drive = drives[id] else { throw Refusal("-device \(driver): drive=\(list["drive"] ?? "") names no -drive if=none") }
                guard used.insert(id).inserted else { throw Refusal("-device \(driver): drive \(id) is used twice") }
                var spec = try Self.block(drive)
                if let serial = list["serial"] { spec.serial = serial }
                devices.append(.block(spec))
            case "virtio-net-pci", "virtio-net":
                guard let id = list["netdev"], let netdev = netdevs[id], let ifname = netdev["ifname"] else {
                    throw Refusal("-device \(driver): netdev=\(list["netdev"] ?? "") names no -netdev tap")
                }
                var text = "tap=\(ifname)"
                if let mac = list["mac"] { text += ",mac=\(mac)" }
                do {
                    devices.append(try .net(parsing: text, option: "-device \(driver)"))
                } catch {
                    throw Refusal("\(error)")
                }
            case "virtio-rng-pci", "virtio-rng":
                devices.append(.entropy(EntropyDeviceSpec()))
            default:
                throw Refusal("-device \(driver): swiftdm serves virtio-blk-pci, virtio-net-pci and virtio-rng-pci to Xen guests")
            }
        }
        if let unused = driveOrder.first(where: { !used.contains($0) }) {
            throw Refusal("-drive id=\(unused),if=none: no -device virtio-blk-pci,drive=\(unused) uses it")
        }
    }

    private static func block(_ drive: QEMUOptionList) throws(Refusal) -> BlockDeviceSpec {
        var text = drive["file"] ?? ""
        guard !text.contains(",") else { throw Refusal("-drive file=\(text): a path with a comma is not supported") }
        if ["on", "yes", "true"].contains(drive["readonly"] ?? "") { text += ",readonly=on" }
        if let cache = drive["cache"] { text += ",cache=\(cache)" }
        if let serial = drive["serial"] { text += ",serial=\(serial)" }
        do {
            guard case .block(let spec) = try VirtioDeviceSpec.block(parsing: text, option: "-drive") else {
                throw Refusal("-drive \(text): not a disk")
            }
            return spec
        } catch let refusal as Refusal {
            throw refusal
        } catch {
            throw Refusal("\(error)")
        }
    }
}
