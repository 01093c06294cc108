import DeviceModel

/// What the frontend has told the backend about one ring (vhost-user.rst "Ring states").
///
/// A ring is *started* once it has a kick descriptor and *stopped* again by
/// `GET_VRING_BASE`; it is *enabled* by `SET_VRING_ENABLE` (or by `SET_FEATURES` without
/// `VHOST_USER_F_PROTOCOL_FEATURES`). The device processes rings that are both.
struct Vring {
    var size: UInt16?
    /// Ring parts as frontend virtual addresses.
    var address: VringAddressPayload?
    /// Next available index to process (`SET_VRING_BASE`, or where the device stopped).
    var base: UInt16 = 0
    /// Used index where the device stopped, when it has run; otherwise read from the ring.
    var usedBase: UInt16?
    var kick: EventNotifier?
    var started = false
    var enabled = false

    var isReady: Bool { started && enabled }
}
