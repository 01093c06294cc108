/// The Linux evdev numbers virtio-input carries unchanged (virtio 1.2 §5.8: "the device
/// uses the Linux input layer's event types and codes"; `include/uapi/linux/input-event-codes.h`).
/// Only the ones this device sends, advertises or reads back are listed.
enum Evdev {
    /// Event types (`EV_*`).
    enum EventType {
        static let synchronize: UInt16 = 0x00
        static let key: UInt16 = 0x01
        static let relative: UInt16 = 0x02
        static let absolute: UInt16 = 0x03
        static let led: UInt16 = 0x11
        static let autoRepeat: UInt16 = 0x14
    }

    /// `SYN_REPORT`: the events since the previous one form one state change.
    static let synReport: UInt16 = 0

    /// Relative axes (`REL_*`).
    enum RelativeAxis {
        static let x: UInt16 = 0x00
        static let y: UInt16 = 0x01
        static let wheel: UInt16 = 0x08
    }

    /// Absolute axes (`ABS_*`).
    enum AbsoluteAxis {
        static let x: UInt16 = 0x00
        static let y: UInt16 = 0x01
    }

    /// Keyboard LEDs (`LED_*`).
    enum LED {
        static let numLock: UInt16 = 0x00
        static let capsLock: UInt16 = 0x01
        static let scrollLock: UInt16 = 0x02
    }

    /// `BUS_VIRTUAL` (`include/uapi/linux/input.h`).
    static let busVirtual: UInt16 = 0x06
}
