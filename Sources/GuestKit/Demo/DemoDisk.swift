import Foundation

/// The demo's scratch disk: a sparse image in a fresh scratch directory (which also holds the
/// backends' sockets), the workload the guests run on it, and the host's view of its contents.
struct DemoDisk {
    let directory: String
    let image: String
    let mebibytes: Int

    /// Creates a zero-filled `mebibytes` MiB image in a new scratch directory.
    init(mebibytes: Int) throws {
        directory = try ScratchDirectory.create(prefix: "/tmp/swiftdm-demo-")
        image = directory + "/scratch.img"
        self.mebibytes = mebibytes
        guard FileManager.default.createFile(atPath: image, contents: nil) else { throw GuestKitError.cannotWrite(path: image) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: image))
        defer { try? handle.close() }
        try handle.truncate(atOffset: UInt64(mebibytes) << 20)
    }

    /// Removes the scratch directory with the image and the sockets in it.
    func remove() { try? FileManager.default.removeItem(atPath: directory) }

    /// Bytes the guest writes from the start of the disk: half the disk, at most 16 MiB.
    var workloadBytes: Int { min(16, mebibytes / 2) << 20 }

    /// The guest's shell lines that fill ``workloadBytes`` of `/dev/vda` with random data
    /// (fsync, caches dropped), read it back and report `disk-sha256=`, `disk-serial=`,
    /// `write-seconds=` and `read-seconds=` (guest clock).
    var writeAndReadBackScript: String {
        """
        t0=$(cut -d' ' -f1 /proc/uptime)
        dd if=/dev/urandom of=/dev/vda bs=1M count=\(workloadBytes >> 20) conv=fsync 2>/dev/null
        sync; echo 3 > /proc/sys/vm/drop_caches
        t1=$(cut -d' ' -f1 /proc/uptime)
        echo "disk-sha256=$(head -c \(workloadBytes) /dev/vda | sha256sum | cut -d' ' -f1)"
        t2=$(cut -d' ' -f1 /proc/uptime)
        echo "disk-serial=$(cat /sys/block/vda/serial)"
        echo "write-seconds=$(echo "$t1 $t0" | awk '{print $1-$2}') read-seconds=$(echo "$t2 $t1" | awk '{print $1-$2}')"
        """
    }

    /// The guest's line that reads ``workloadBytes`` back and reports `disk-sha256=`.
    var readBackScript: String {
        #"echo "disk-sha256=$(head -c \#(workloadBytes) /dev/vda | sha256sum | cut -d' ' -f1)""#
    }

    /// SHA-256 (hex) of the first ``workloadBytes`` of the image, as the host's `sha256sum` sees them.
    func hostSHA256() throws -> String {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: image))
        defer { try? handle.close() }
        return String(try HostCommand.run(["sha256sum"], input: try handle.read(upToCount: workloadBytes) ?? Data()).prefix(64))
    }

    /// `swiftdm vhost-user --blk` / `swiftdm run --disk` value for the image with serial `serial`
    /// (commas in the path doubled, as both parse it).
    func option(serial: String) -> String {
        image.replacingOccurrences(of: ",", with: ",,") + ",serial=\(serial)"
    }
}
