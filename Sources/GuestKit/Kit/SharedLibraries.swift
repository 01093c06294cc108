import Foundation

/// The shared libraries a host binary needs, as `ldd` resolves them, so it can be copied
/// into an initrd together with them (paths kept, so the dynamic loader finds them).
enum SharedLibraries {
    /// Absolute paths of every library `ldd binary` lists, the dynamic loader included.
    static func needed(by binary: String) throws -> [String] {
        let output = try HostCommand.run(["ldd", binary])
        var paths: [String] = []
        for line in output.split(separator: "\n") {
            // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if let arrow = fields.firstIndex(of: "=>"), arrow + 1 < fields.count, fields[arrow + 1].hasPrefix("/") {
                paths.append(String(fields[arrow + 1]))
            } else if let first = fields.first, first.hasPrefix("/") {
                paths.append(String(first))
            }
        }
        return paths
    }
}
