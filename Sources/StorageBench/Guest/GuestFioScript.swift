/// The guest-kit script that runs ``GuestFioJob``s on the guest's first virtio disk and
/// reports each as `fio-<key>=<fio's terse v3 line>` (``FioTerseResult`` reads it), with
/// `fio-<key>-status=<exit status>` and `fio-engine=` (which I/O engine ran).
public struct GuestFioScript: Sendable {
    /// The jobs, run one after the other.
    public var jobs: [GuestFioJob]
    /// The block device in the guest.
    public var device: String
    /// Measured seconds per job, after `rampSeconds` of the same load that fio does not count.
    public var seconds: Int
    public var rampSeconds: Int

    /// `jobs` on `device` for `seconds` each after `rampSeconds`.
    public init(jobs: [GuestFioJob], device: String = "/dev/vda", seconds: Int, rampSeconds: Int) {
        self.jobs = jobs
        self.device = device
        self.seconds = seconds
        self.rampSeconds = rampSeconds
    }

    /// The shell text, for ``GuestKit/GuestInit`` (alone or before other commands). Percentiles
    /// are of the total latency (`--lat_percentiles`): io_uring at queue depth 1 submits and
    /// waits in one call, so the completion latency alone would leave the wait out.
    public var text: String {
        // io_uring where the guest kernel has it (5.1+, and built with it), else libaio:
        // probed with one 4 KiB read, as fio only fails a job at its start.
        var lines = [
            "if fio --name=probe --filename=\(device) --ioengine=io_uring --direct=1 --rw=read --bs=4k --size=4k > /dev/null 2>&1; then",
            "    engine=io_uring",
            "else",
            "    engine=libaio",
            "fi",
            "echo \"fio-engine=$engine\"",
        ]
        for job in jobs {
            let out = "/tmp/fio-\(job.key).txt"
            lines += [
                "fio --name=\(job.key) --filename=\(device) --rw=\(job.readWrite) --bs=\(job.blockSize) --iodepth=\(job.queueDepth) "
                    + "--direct=1 --ioengine=$engine --runtime=\(seconds) --ramp_time=\(rampSeconds) --time_based --lat_percentiles=1 "
                    + "--output-format=terse --terse-version=3 > \(out) 2>&1",
                "status=$?",
                "echo \"fio-\(job.key)-status=$status\"",
                "[ $status = 0 ] || tail -n 5 \(out)",
                // The terse line is one word (fields joined by ';'), so it survives as one value.
                "echo \"fio-\(job.key)=$(grep '^3;' \(out) | head -n 1)\"",
            ]
        }
        return lines.joined(separator: "\n")
    }
}
