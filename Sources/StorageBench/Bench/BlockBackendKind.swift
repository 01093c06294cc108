/// The two vhost-user-blk backends `swiftdm bench` compares.
public enum BlockBackendKind: String, Sendable, CaseIterable {
    case swiftdm
    case qemuStorageDaemon = "qemu-storage-daemon"

    /// The short column name.
    public var label: String { self == .swiftdm ? "swiftdm" : "qsd" }
}

/// How each backend is started on an image: the command line, given the executables and
/// whether the image's file system takes `O_DIRECT`.
public enum BlockBackendCommand {
    /// `swiftdm vhost-user --blk IMAGE[,DISK-OPTIONS] --socket SOCKET`.
    public static func swiftdm(_ executable: String, image: String, socket: String, diskOptions: String = "") -> [String] {
        [executable, "vhost-user", "--blk", escaped(image) + (diskOptions.isEmpty ? "" : "," + diskOptions), "--socket", socket]
    }

    /// `qemu-storage-daemon` exporting IMAGE as vhost-user-blk on SOCKET, one queue, writable:
    /// `aio=native,cache.direct=on` (QEMU's recommended setting for raw images, and what the
    /// issue's figures used) where the file system takes `O_DIRECT`, else
    /// `aio=threads,cache.direct=off` (native AIO needs `O_DIRECT`). `queues` request queues
    /// (the bench uses one, as swiftdm serves one).
    /// With `pollMaxNanoseconds`, the export runs in an iothread polling up to that long
    /// (`--object iothread,poll-max-ns=N`, QEMU's own adaptive polling), to compare with
    /// swiftdm's `poll-max-ns` on equal terms.
    public static func qemuStorageDaemon(_ executable: String, image: String, socket: String, directIO: Bool,
                                         queues: Int = 1, pollMaxNanoseconds: Int? = nil) -> [String] {
        let cache = directIO ? "aio=native,cache.direct=on" : "aio=threads,cache.direct=off"
        var command = [executable]
        var thread = ""
        if let pollMaxNanoseconds {
            command += ["--object", "iothread,id=bench-io,poll-max-ns=\(pollMaxNanoseconds)"]
            thread = ",iothread=bench-io"
        }
        return command + [
            "--blockdev", "driver=file,node-name=f,filename=\(escaped(image)),\(cache)",
            "--blockdev", "driver=raw,node-name=d,file=f",
            "--export", "type=vhost-user-blk,id=e,node-name=d,addr.type=unix,addr.path=\(escaped(socket)),writable=on,num-queues=\(queues)\(thread)"]
    }

    /// QEMU option syntax (which swiftdm's device options share): a comma in a value is doubled.
    static func escaped(_ value: String) -> String { value.replacingOccurrences(of: ",", with: ",,") }
}
