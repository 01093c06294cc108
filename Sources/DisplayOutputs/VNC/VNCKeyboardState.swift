import Display

/// Turns one client's KeyEvents into evdev key events, adding Shift where the symbol needs
/// it. Viewers send the keysym the user's keyboard produced (`H`, `!`) with Shift already
/// down, and then nothing is added; scripted clients (vncdotool's `type Hello`) send `H`
/// alone, which on the guest's US layout is Shift+h, so Shift is pressed around that key.
struct VNCKeyboardState {
    static let leftShift: UInt16 = 42
    private static let shiftKeysyms: Set<UInt32> = [0xffe1, 0xffe2]
    /// Symbols a US keyboard types with Shift (the capitals are a range).
    private static let shiftedSymbols = Set("~!@#$%^&*()_+{}|:\"<>?".unicodeScalars.map(\.value))

    /// Shift keys the client holds.
    private var shiftsHeld: Set<UInt32> = []
    /// Keys pressed with a Shift added here, released with it.
    private var shiftAdded: Set<UInt16> = []

    /// The events for one KeyEvent, or nil when the keysym has no key (see ``VNCKeymap``).
    mutating func events(keysym: UInt32, pressed: Bool) -> [InputEvent]? {
        guard let code = VNCKeymap.evdevCode(for: keysym) else { return nil }
        if Self.shiftKeysyms.contains(keysym) {
            if pressed { shiftsHeld.insert(keysym) } else { shiftsHeld.remove(keysym) }
            return [.key(code: code, pressed: pressed)]
        }
        let needsShift = (0x41...0x5a).contains(keysym) || Self.shiftedSymbols.contains(keysym)
        if pressed && needsShift && shiftsHeld.isEmpty && !shiftAdded.contains(code) {
            shiftAdded.insert(code)
            return [.key(code: Self.leftShift, pressed: true), .key(code: code, pressed: true)]
        }
        if !pressed && shiftAdded.remove(code) != nil {
            return [.key(code: code, pressed: false), .key(code: Self.leftShift, pressed: false)]
        }
        return [.key(code: code, pressed: pressed)]
    }
}
