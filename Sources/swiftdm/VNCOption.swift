import DisplayOutputs
import Machine

/// `--vnc SPEC` with `--vnc-password-file FILE`, as `swiftdm run`, `swiftdm vhost-user` and
/// `swiftdm screenshot` all take them: one parser, one reading of the password file.
enum VNCOption {
    /// The server (or, for `screenshot`, the server to reach) `vnc` names, with the first line
    /// of `passwordFile` as its password; an empty first line is refused rather than taken as
    /// an empty password.
    static func configuration(_ vnc: String, passwordFile: String?) throws(MachineError) -> VNCConfiguration {
        var password: String?
        if let file = passwordFile {
            let line = try HostFiles.firstLine(of: file, option: "--vnc-password-file")
            guard !line.isEmpty else { throw .fileUnusable(option: "--vnc-password-file", path: file, reason: "its first line is empty") }
            password = line
        }
        do throws(VNCError) {
            return try VNCConfiguration(parsing: vnc, password: password)
        } catch {
            throw .badValue(option: "--vnc", value: vnc, expected: "\(error)")
        }
    }
}
