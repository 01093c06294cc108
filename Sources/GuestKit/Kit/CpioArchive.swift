import Foundation

/// Writes a cpio archive in the "newc" format the kernel unpacks as an initramfs
/// (Linux `Documentation/driver-api/early-userspace/buffer-format.rst`). Entries are owned
/// by root with a fixed timestamp, so the same inputs give the same bytes; parent
/// directories are created implicitly; device nodes need no privileges to write.
final class CpioArchive {
    private let output: FileHandle
    private var inode: UInt32 = 1
    private var directories: Set<String> = ["", "/"]
    private var offset = 0

    init(writingTo path: String) throws {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        guard let h = FileHandle(forWritingAtPath: path) else {
            throw GuestKitError.cannotWrite(path: path)
        }
        output = h
    }

    func directory(_ path: String, mode: UInt32 = 0o755) {
        let p = Self.normalize(path)
        guard !directories.contains(p) else { return }
        parents(of: p)
        directories.insert(p)
        entry(name: p, mode: 0o040000 | mode, data: Data())
    }

    func file(_ path: String, contents: Data, mode: UInt32 = 0o644) {
        let p = Self.normalize(path)
        parents(of: p)
        entry(name: p, mode: 0o100000 | mode, data: contents)
    }

    /// Copies a host file (following symlinks) to `path`, keeping its permission bits.
    func copy(hostFile: String, to path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: hostFile))
        let attributes = try FileManager.default.attributesOfItem(atPath: hostFile)
        let mode = (attributes[.posixPermissions] as? NSNumber)?.uint32Value ?? 0o644
        file(path, contents: data, mode: mode & 0o7777)
    }

    func symlink(_ path: String, target: String) {
        let p = Self.normalize(path)
        parents(of: p)
        entry(name: p, mode: 0o120777, data: Data(target.utf8))
    }

    func characterDevice(_ path: String, major: UInt32, minor: UInt32, mode: UInt32 = 0o600) {
        let p = Self.normalize(path)
        parents(of: p)
        entry(name: p, mode: 0o020000 | mode, data: Data(), rdev: (major, minor))
    }

    /// Writes the trailer and closes the file.
    func finish() throws {
        entry(name: "TRAILER!!!", mode: 0, data: Data(), countsInode: false)
        try output.close()
    }

    private func parents(of path: String) {
        let components = path.split(separator: "/")
        var current = ""
        for c in components.dropLast() {
            current += (current.isEmpty ? "" : "/") + c
            if !directories.contains(current) {
                directories.insert(current)
                entry(name: current, mode: 0o040755, data: Data())
            }
        }
    }

    private static func normalize(_ path: String) -> String {
        path.split(separator: "/").joined(separator: "/")
    }

    private func entry(name: String, mode: UInt32, data: Data, rdev: (UInt32, UInt32) = (0, 0), countsInode: Bool = true) {
        let nameBytes = Data(name.utf8) + [0]
        let fields: [UInt32] = [
            countsInode ? inode : 0, mode, 0, 0, mode & 0o040000 != 0 ? 2 : 1, 0,
            UInt32(data.count), 0, 0, rdev.0, rdev.1, UInt32(nameBytes.count), 0,
        ]
        if countsInode { inode += 1 }
        var header = Data("070701".utf8)
        for f in fields { header += Data(String(format: "%08X", f).utf8) }
        write(header + nameBytes)
        pad()
        write(data)
        pad()
    }

    private func write(_ data: Data) {
        output.write(data)
        offset += data.count
    }

    private func pad() {
        let n = (4 - offset % 4) % 4
        if n > 0 { write(Data(repeating: 0, count: n)) }
    }
}
