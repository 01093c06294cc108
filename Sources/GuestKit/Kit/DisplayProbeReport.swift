/// What ``DisplayProbe`` printed, parsed from a console (the guest's own, or a lab scenario's).
public struct DisplayProbeReport: Sendable {
    /// One evdev event the probe read.
    public struct Event: Sendable, Hashable, CustomStringConvertible {
        /// `kbd` or `tablet`.
        public var device: String
        /// `EV_KEY` (1), `EV_REL` (2), `EV_ABS` (3), `EV_MSC` (4), …
        public var type: Int
        /// `KEY_*`, `BTN_*`, `ABS_*` code.
        public var code: Int
        /// 1 down, 0 up (keys and buttons); the position (absolute axes).
        public var value: Int

        public init(device: String, type: Int, code: Int, value: Int) {
            self.device = device
            self.type = type
            self.code = code
            self.value = value
        }

        public var description: String { "\(device) type=\(type) code=\(code) value=\(value)" }
    }

    /// An event device the guest has.
    public struct InputDevice: Sendable, Hashable {
        /// `event2`.
        public var node: String
        /// `kbd`, `tablet` or `other`.
        public var role: String
        /// Its name, such as `QEMU Virtio Keyboard`.
        public var name: String
    }

    /// The framebuffer's size (`fb0=WxH`); `nil` when there was none.
    public let framebufferSize: (width: Int, height: Int)?
    /// The event devices, in `/sys/class/input` order.
    public let inputs: [InputDevice]
    /// True once ``DisplayProbe/readyMarker`` appeared.
    public let ready: Bool
    /// Events in the order printed.
    public let events: [Event]
    /// `stop-key` or `timeout` from ``DisplayProbe/doneMarker``; `nil` before it.
    public let ending: String?

    /// Parses `console` (carriage returns ignored).
    public init(console: String) {
        var size: (Int, Int)?
        var inputs: [InputDevice] = []
        var ready = false
        var events: [Event] = []
        var ending: String?
        // "\r\n" is one Character, which a split at "\n" would not see: carriage returns go first.
        let text = String(String.UnicodeScalarView(console.unicodeScalars.filter { $0 != "\r" }))
        for line in text.split(separator: "\n") {
            if let r = line.range(of: "fb0=") {
                let dims = line[r.upperBound...].prefix { !$0.isWhitespace }.split(separator: "x")
                if dims.count == 2, let w = Int(dims[0]), let h = Int(dims[1]) { size = (w, h) }
            } else if line.hasPrefix("input "), let name = line.range(of: "name=\"") {
                let fields = line.split(separator: " ")
                guard fields.count >= 3 else { continue }
                inputs.append(InputDevice(node: String(fields[1]), role: String(fields[2].dropFirst("role=".count)),
                                          name: String(line[name.upperBound...].prefix { $0 != "\"" })))
            } else if line.hasPrefix(DisplayProbe.readyMarker) {
                ready = true
            } else if line.hasPrefix(DisplayProbe.doneMarker + " ") {
                ending = String(line.dropFirst(DisplayProbe.doneMarker.count + 1))
            } else if line.hasPrefix("ev ") {
                let fields = line.split(separator: " ")
                func value(_ key: String) -> Int? {
                    fields.first { $0.hasPrefix(key + "=") }.flatMap { Int($0.dropFirst(key.count + 1)) }
                }
                guard fields.count >= 5, let type = value("type"), let code = value("code"), let v = value("value") else { continue }
                events.append(Event(device: String(fields[1]), type: type, code: code, value: v))
            }
        }
        framebufferSize = size.map { (width: $0.0, height: $0.1) }
        self.inputs = inputs
        self.ready = ready
        self.events = events
        self.ending = ending
    }

    /// The keyboard's `EV_KEY` events as (code, value) pairs, in order.
    public var keys: [(code: Int, value: Int)] {
        events.filter { $0.device == "kbd" && $0.type == 1 }.map { ($0.code, $0.value) }
    }

    /// The tablet's events of `type`, in order.
    public func tablet(type: Int) -> [Event] { events.filter { $0.device == "tablet" && $0.type == type } }
}
