import Machine

/// `--qmp unix:PATH,server=on,wait=off` (QEMU's `-qmp` spelling): a UNIX socket QMP listens on.
///
/// `server=on` is required (swiftdm never connects out); `wait=on`, QEMU's "wait for a client
/// before starting the guest", is refused; without `wait=`, the guest starts at once
/// (`wait=off`). The old `server` and `nowait` flags are accepted too.
enum QMPSocketOption {
    /// The socket path `text` names.
    static func path(_ text: String) throws(MachineError) -> String {
        let expected = "expected unix:PATH,server=on,wait=off"
        guard text.hasPrefix("unix:") else { throw .badValue(option: "--qmp", value: text, expected: expected) }
        var parts = text.dropFirst(5).split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let path = parts.removeFirst()
        guard !path.isEmpty else { throw .badValue(option: "--qmp", value: text, expected: expected + " (the path is empty)") }
        var server = false
        for part in parts {
            switch part {
            case "server", "server=on", "server=yes": server = true
            case "wait=off", "nowait", "wait=no": break
            case "wait=on", "wait", "wait=yes":
                throw .badValue(option: "--qmp", value: text, expected: "wait=on (holding the guest until a client connects) is not supported: use wait=off")
            case "server=off", "server=no":
                throw .badValue(option: "--qmp", value: text, expected: "swiftdm only listens (server=on); it does not connect to a QMP client")
            default:
                throw .badValue(option: "--qmp", value: text, expected: "unknown parameter '\(part)': \(expected)")
            }
        }
        guard server else { throw .badValue(option: "--qmp", value: text, expected: "server=on is required: \(expected)") }
        return path
    }
}
