import Display
@testable import DisplayOutputs
import Testing

struct VNCInputTests {
    @Test func keysReachTheKeyboardAsEvdevCodes() throws {
        let f = try VNCFixture()
        let c = try f.connect()
        try c.handshake()
        // a, 1, Return, F12, Left, KP_5, and an unmapped keysym (ignored).
        let keysyms: [UInt32] = [0x61, 0x31, 0xff0d, 0xffc9, 0xff51, 0xffb5, 0x1234567]
        for k in keysyms {
            try c.key(k, down: true)
            try c.key(k, down: false)
        }
        let codes: [UInt16] = [30, 2, 28, 88, 105, 76]
        let expected = codes.flatMap { [InputEvent.key(code: $0, pressed: true), .key(code: $0, pressed: false)] }
        #expect(f.keyboard.waitFor(count: expected.count) == expected)
        #expect(f.tablet.events.isEmpty)
    }

    /// A viewer holds Shift itself; a script sends the capital alone and gets Shift added.
    @Test func shiftedSymbols() throws {
        let f = try VNCFixture()
        let c = try f.connect()
        try c.handshake()
        for (k, down) in [(UInt32(0xffe1), true), (0x41, true), (0x41, false), (0x21, true), (0x21, false), (0xffe1, false),
                          (0x41, true), (0x41, false), (0x21, true), (0x21, false)] {
            try c.key(k, down: down)
        }
        let shift = InputEvent.key(code: 42, pressed: true), unshift = InputEvent.key(code: 42, pressed: false)
        let expected: [InputEvent] = [
            shift, .key(code: 30, pressed: true), .key(code: 30, pressed: false),
            .key(code: 2, pressed: true), .key(code: 2, pressed: false), unshift,
            shift, .key(code: 30, pressed: true), .key(code: 30, pressed: false), unshift,
            shift, .key(code: 2, pressed: true), .key(code: 2, pressed: false), unshift,
        ]
        #expect(f.keyboard.waitFor(count: expected.count) == expected)
    }

    @Test func keymapCoversTheUSLayout() {
        for (i, letter) in "qwertyuiop".unicodeScalars.enumerated() {
            #expect(VNCKeymap.evdevCode(for: letter.value) == UInt16(16 + i))
        }
        for (i, letter) in "ASDFGHJKL".unicodeScalars.enumerated() {
            #expect(VNCKeymap.evdevCode(for: letter.value) == UInt16(30 + i))
        }
        for (i, letter) in "zxcvbnm".unicodeScalars.enumerated() {
            #expect(VNCKeymap.evdevCode(for: letter.value) == UInt16(44 + i))
        }
        #expect(VNCKeymap.evdevCode(for: 0x30) == 11)
        #expect(VNCKeymap.evdevCode(for: 0xffbe) == 59)  // F1
        #expect(VNCKeymap.evdevCode(for: 0xffc7) == 68)  // F10
        #expect(VNCKeymap.evdevCode(for: 0xffc8) == 87)  // F11
        #expect(VNCKeymap.evdevCode(for: UInt32(UnicodeScalar("?").value)) == 53)
        #expect(VNCKeymap.evdevCode(for: 0xffff) == 111)  // Delete
        #expect(VNCKeymap.evdevCode(for: 0xff8d) == 96)  // KP_Enter
        #expect(VNCKeymap.evdevCode(for: 0x20ac) == nil)  // EuroSign: no key on a US layout
    }

    @Test func pointerMovesClicksAndWheel() throws {
        let f = try VNCFixture()
        let c = try f.connect()
        try c.handshake()
        try c.pointer(x: 160, y: 120, buttons: 0)
        try c.pointer(x: 160, y: 120, buttons: 1)  // left down
        try c.pointer(x: 319, y: 239, buttons: 1 | 4)  // move with right down too
        try c.pointer(x: 319, y: 239, buttons: 0)  // both up
        try c.pointer(x: 319, y: 239, buttons: 8)  // wheel up
        try c.pointer(x: 319, y: 239, buttons: 0)
        try c.pointer(x: 319, y: 239, buttons: 16)  // wheel down
        try c.pointer(x: 0, y: 0, buttons: 0)
        let expected: [InputEvent] = [
            .absolute(pixelX: 160, pixelY: 120, width: 320, height: 240),
            .button(.left, pressed: true),
            .absolute(x: 0x7fff, y: 0x7fff), .button(.right, pressed: true),
            .button(.left, pressed: false), .button(.right, pressed: false),
            .wheel(steps: 1),
            .wheel(steps: -1),
            .absolute(x: 0, y: 0),
        ]
        #expect(f.tablet.waitFor(count: expected.count) == expected)
        #expect(f.keyboard.events.isEmpty)
    }
}
