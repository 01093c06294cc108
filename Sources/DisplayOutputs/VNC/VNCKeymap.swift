/// X11 keysyms, as VNC KeyEvents carry them (RFC 6143 §7.5.4), to Linux evdev `KEY_*` codes
/// on a US layout. A keysym names a symbol, not a key, so both cases of a letter and both
/// symbols of a key (`1` and `!`) map to the same key; ``VNCKeyboardState`` adds Shift when
/// the client did not hold it.
enum VNCKeymap {
    /// The evdev code for `keysym`, or nil when it has no key on a US keyboard.
    static func evdevCode(for keysym: UInt32) -> UInt16? {
        switch keysym {
        case 0x61...0x7a: return letters[Int(keysym - 0x61)]
        case 0x41...0x5a: return letters[Int(keysym - 0x41)]
        case 0x31...0x39: return UInt16(keysym - 0x31 + 2)  // KEY_1 = 2 ... KEY_9 = 10
        case 0x30: return 11  // KEY_0
        case 0xffbe...0xffc7: return UInt16(keysym - 0xffbe + 59)  // KEY_F1 = 59 ... KEY_F10 = 68
        case 0xffc8: return 87  // KEY_F11
        case 0xffc9: return 88  // KEY_F12
        default: return table[keysym]
        }
    }

    /// KEY_A ... KEY_Z in alphabetical order.
    private static let letters: [UInt16] = [
        30, 48, 46, 32, 18, 33, 34, 35, 23, 36, 37, 38, 50, 49, 24, 25, 16, 19, 31, 20, 22, 47, 17, 45, 21, 44,
    ]

    private static let table: [UInt32: UInt16] = [
        // Punctuation, unshifted and shifted, as the keys of a US keyboard carry them.
        0x20: 57,  // space
        0x2d: 12, 0x5f: 12,  // - _
        0x3d: 13, 0x2b: 13,  // = +
        0x5b: 26, 0x7b: 26,  // [ {
        0x5d: 27, 0x7d: 27,  // ] }
        0x3b: 39, 0x3a: 39,  // ; :
        0x27: 40, 0x22: 40,  // ' "
        0x60: 41, 0x7e: 41,  // ` ~
        0x5c: 43, 0x7c: 43,  // \ |
        0x2c: 51, 0x3c: 51,  // , <
        0x2e: 52, 0x3e: 52,  // . >
        0x2f: 53, 0x3f: 53,  // / ?
        0x21: 2, 0x40: 3, 0x23: 4, 0x24: 5, 0x25: 6, 0x5e: 7, 0x26: 8, 0x2a: 9, 0x28: 10, 0x29: 11,  // ! @ # $ % ^ & * ( )
        // Editing and navigation.
        0xff08: 14,  // BackSpace
        0xff09: 15, 0xfe20: 15,  // Tab, ISO_Left_Tab (Shift+Tab)
        0xff0d: 28,  // Return
        0xff1b: 1,  // Escape
        0xffff: 111,  // Delete
        0xff50: 102,  // Home
        0xff57: 107,  // End
        0xff55: 104,  // Page_Up (Prior)
        0xff56: 109,  // Page_Down (Next)
        0xff63: 110,  // Insert
        0xff51: 105, 0xff52: 103, 0xff53: 106, 0xff54: 108,  // Left Up Right Down
        0xff61: 99,  // Print (KEY_SYSRQ)
        0xff13: 119,  // Pause
        0xff14: 70,  // Scroll_Lock
        0xff67: 127,  // Menu (KEY_COMPOSE)
        // Modifiers.
        0xffe1: 42, 0xffe2: 54,  // Shift_L, Shift_R
        0xffe3: 29, 0xffe4: 97,  // Control_L, Control_R
        0xffe5: 58,  // Caps_Lock
        0xffe9: 56, 0xffea: 100,  // Alt_L, Alt_R
        0xfe03: 100,  // ISO_Level3_Shift (AltGr)
        0xffe7: 125, 0xffe8: 126,  // Meta_L, Meta_R
        0xffeb: 125, 0xffec: 126,  // Super_L, Super_R
        // Keypad, with Num Lock on (digits) and off (navigation): the same keys.
        0xff7f: 69,  // Num_Lock
        0xffb0: 82, 0xffb1: 79, 0xffb2: 80, 0xffb3: 81, 0xffb4: 75,  // KP_0 ... KP_4
        0xffb5: 76, 0xffb6: 77, 0xffb7: 71, 0xffb8: 72, 0xffb9: 73,  // KP_5 ... KP_9
        0xff9e: 82, 0xff9c: 79, 0xff99: 80, 0xff9b: 81, 0xff96: 75,  // KP_Insert End Down Next Left
        0xff9d: 76, 0xff98: 77, 0xff95: 71, 0xff97: 72, 0xff9a: 73,  // KP_Begin Right Home Up Prior
        0xffae: 83, 0xff9f: 83,  // KP_Decimal, KP_Delete
        0xff8d: 96,  // KP_Enter
        0xffab: 78,  // KP_Add
        0xffad: 74,  // KP_Subtract
        0xffaa: 55,  // KP_Multiply
        0xffaf: 98,  // KP_Divide
        0xffbd: 117,  // KP_Equal
    ]
}
