import Display

/// What a virtio-input device tells the driver about itself (virtio 1.2 §5.8.5): its
/// identity, the codes it sends per event type, and its absolute axes. Chosen per
/// ``InputDeviceKind`` as QEMU's virtio-keyboard, virtio-mouse and virtio-tablet do
/// (`hw/input/virtio-input-hid.c`), so guests that know those see nothing new.
struct InputCapabilities: Sendable, Hashable {
    /// `struct virtio_input_devids`.
    struct DeviceIDs: Sendable, Hashable {
        var bustype: UInt16
        var vendor: UInt16
        var product: UInt16
        var version: UInt16
    }

    /// `struct virtio_input_absinfo`.
    struct AxisInfo: Sendable, Hashable {
        var minimum: Int32
        var maximum: Int32
        var fuzz: Int32 = 0
        var flat: Int32 = 0
        var resolution: Int32 = 0
    }

    let kind: InputDeviceKind
    let name: String
    let serial: String?
    let ids: DeviceIDs
    /// Per event type, the bitmap of codes the device sends (bit n of byte n/8 is code n),
    /// cut after its last non-zero byte. `EV_REP` is an empty one-byte bitmap: its presence
    /// (a non-zero size) is what tells Linux to enable key repeat.
    let eventCodes: [UInt16: [UInt8]]
    /// Absolute axes and their ranges.
    let axes: [UInt16: AxisInfo]

    init(kind: InputDeviceKind, name: String, serial: String?) {
        self.kind = kind
        self.name = name
        self.serial = serial
        // QEMU's vendor for its USB and virtio HID devices; products 1, 2, 3 as QEMU numbers them.
        let product: UInt16 = switch kind {
        case .keyboard: 1
        case .mouse: 2
        case .tablet: 3
        }
        ids = DeviceIDs(bustype: Evdev.busVirtual, vendor: 0x0627, product: product, version: 1)
        let buttons = Self.bitmap(PointerButton.allCases.map(\.rawValue))
        switch kind {
        case .keyboard:
            eventCodes = [
                Evdev.EventType.key: Self.bitmap(Self.keyboardKeys.joined()),
                Evdev.EventType.autoRepeat: [0],
                Evdev.EventType.led: Self.bitmap([Evdev.LED.numLock, Evdev.LED.capsLock, Evdev.LED.scrollLock]),
            ]
            axes = [:]
        case .mouse:
            eventCodes = [
                Evdev.EventType.key: buttons,
                Evdev.EventType.relative: Self.bitmap([Evdev.RelativeAxis.x, Evdev.RelativeAxis.y, Evdev.RelativeAxis.wheel]),
            ]
            axes = [:]
        case .tablet:
            eventCodes = [
                Evdev.EventType.key: buttons,
                Evdev.EventType.absolute: Self.bitmap([Evdev.AbsoluteAxis.x, Evdev.AbsoluteAxis.y]),
                Evdev.EventType.relative: Self.bitmap([Evdev.RelativeAxis.wheel]),
            ]
            let range = InputEvent.absoluteRange
            let axis = AxisInfo(minimum: range.lowerBound, maximum: range.upperBound)
            axes = [Evdev.AbsoluteAxis.x: axis, Evdev.AbsoluteAxis.y: axis]
        }
    }

    /// True when the device advertises `code` of event type `type`: the guest's input core
    /// drops any other code, so the device sends only these.
    func supports(type: UInt16, code: UInt16) -> Bool {
        guard let bitmap = eventCodes[type] else { return false }
        let byte = Int(code / 8)
        return byte < bitmap.count && bitmap[byte] & (1 << (code % 8)) != 0
    }

    /// The bitmap with `codes` set, as long as its highest set byte.
    static func bitmap(_ codes: some Sequence<UInt16>) -> [UInt8] {
        var bytes: [UInt8] = []
        for code in codes {
            let byte = Int(code / 8)
            if byte >= bytes.count { bytes += Array(repeating: 0, count: byte + 1 - bytes.count) }
            bytes[byte] |= 1 << (code % 8)
        }
        return bytes
    }

    /// The Linux key codes QEMU's virtio-keyboard advertises: every code its QKeyCode table
    /// maps to (keycodemapdb's `keymaps.csv`, column "QEMU QKeyCode"). A VNC client's keysyms
    /// translate into this set; a key outside it would be ignored by the guest anyway.
    static let keyboardKeys: [ClosedRange<UInt16>] = [
        1...83,       // KEY_ESC ... KEY_KPDOT: the PC/AT main block and keypad
        86...89,      // KEY_102ND, KEY_F11, KEY_F12, KEY_RO
        91...94,      // KEY_HIRAGANA ... KEY_MUHENKAN
        96...111,     // KEY_KPENTER ... KEY_DELETE: right-hand modifiers, navigation
        113...117,    // KEY_MUTE ... KEY_KPEQUAL
        119...119,    // KEY_PAUSE
        121...140,    // KEY_KPCOMMA ... KEY_CALC
        142...143,    // KEY_SLEEP, KEY_WAKEUP
        155...159,    // KEY_MAIL ... KEY_FORWARD
        163...166,    // KEY_NEXTSONG ... KEY_STOPCD
        172...173,    // KEY_HOMEPAGE, KEY_REFRESH
        183...194,    // KEY_F13 ... KEY_F24
        226...226,    // KEY_MEDIA
    ]
}
