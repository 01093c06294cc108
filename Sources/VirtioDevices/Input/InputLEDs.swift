/// Keyboard LEDs as the guest last set them through the statusq (`EV_LED`). Bit n is
/// evdev's `LED_*` code n.
public struct InputLEDs: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// `LED_NUML`.
    public static let numLock = InputLEDs(rawValue: 1 << Evdev.LED.numLock)
    /// `LED_CAPSL`.
    public static let capsLock = InputLEDs(rawValue: 1 << Evdev.LED.capsLock)
    /// `LED_SCROLLL`.
    public static let scrollLock = InputLEDs(rawValue: 1 << Evdev.LED.scrollLock)

    /// The LED for evdev code `code`, if it is one of these three.
    init?(code: UInt16) {
        guard code <= Evdev.LED.scrollLock else { return nil }
        self.init(rawValue: 1 << UInt8(code))
    }

    public var description: String {
        let names = [(InputLEDs.numLock, "num"), (.capsLock, "caps"), (.scrollLock, "scroll")]
        let on = names.filter { contains($0.0) }.map(\.1)
        return on.isEmpty ? "none" : on.joined(separator: "+")
    }
}
