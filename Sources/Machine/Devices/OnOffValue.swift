/// A QEMU-style boolean option value: `on`/`off`, also `yes`/`no`, `true`/`false`, `y`/`n`
/// (QEMU's `qapi_bool_parse`). A bare key (`readonly`) means on, which QEMU still accepts
/// as the old short form.
enum OnOffValue {
    static func parse(_ value: String?, option: String) throws(DeviceSpecError) -> Bool {
        switch value {
        case nil, "on", "yes", "true", "y": return true
        case "off", "no", "false", "n": return false
        case let value?: throw DeviceSpecError(option: option, value: value, expected: "expected on or off")
        }
    }
}
