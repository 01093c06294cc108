import Foundation
import GuestKit

/// The host's own fio on the bench image — "the limit" row: what the kernel's io_uring does
/// for 4k random reads at queue depth 32 with no vhost-user, no second process and no ring
/// in between. Buffered (`--direct=0`), as swiftdm serves the image.
public enum HostFio {
    /// The fio measurement in the same terms as a ``LoadResult``.
    public struct Result: Sendable {
        /// Requests per second, MB/s (10^6 bytes), and latency in microseconds.
        public var iops: Double
        public var megabytesPerSecond: Double
        public var meanMicroseconds: Double
        public var p50Microseconds: Double
        public var p99Microseconds: Double
    }

    /// The command line for `seconds` of 4k random reads at QD32 on `image`.
    public static func command(_ fio: String, image: String, seconds: Double) -> [String] {
        [fio, "--name=limit", "--filename=\(image)", "--ioengine=io_uring", "--direct=0", "--rw=randread",
         "--bs=4k", "--iodepth=32", "--runtime=\(seconds)", "--time_based", "--output-format=json"]
    }

    /// Runs fio and reads its JSON report.
    public static func run(_ fio: String, image: String, seconds: Double) throws(StorageBenchError) -> Result {
        let arguments = command(fio, image: image, seconds: seconds)
        let output: Data
        do { output = try HostCommand.runData(arguments) } catch {
            throw .toolFailed(command: arguments.joined(separator: " "), detail: "\(error)")
        }
        return try parse(output, command: arguments.joined(separator: " "))
    }

    /// Reads `jobs[0].read` of fio's `--output-format=json` report: iops, bw_bytes, the total
    /// latency's mean (`lat_ns`) and the completion latency's percentiles (`clat_ns`: fio
    /// keeps percentiles for that one only).
    static func parse(_ json: Data, command: String) throws(StorageBenchError) -> Result {
        // fio may print notices before the JSON; start at the first brace.
        let start = json.firstIndex(of: UInt8(ascii: "{")) ?? json.startIndex
        guard let root = try? JSONSerialization.jsonObject(with: json[start...]) as? [String: Any],
              let jobs = root["jobs"] as? [[String: Any]], let read = jobs.first?["read"] as? [String: Any],
              let iops = (read["iops"] as? NSNumber)?.doubleValue,
              let bandwidth = (read["bw_bytes"] as? NSNumber)?.doubleValue,
              let lat = read["lat_ns"] as? [String: Any], let mean = (lat["mean"] as? NSNumber)?.doubleValue,
              let clat = read["clat_ns"] as? [String: Any], let percentiles = clat["percentile"] as? [String: Any],
              let p50 = (percentiles["50.000000"] as? NSNumber)?.doubleValue,
              let p99 = (percentiles["99.000000"] as? NSNumber)?.doubleValue
        else {
            throw .toolFailed(command: command, detail: "unreadable JSON report: \(String(decoding: json.prefix(300), as: UTF8.self))")
        }
        return Result(iops: iops, megabytesPerSecond: bandwidth / 1e6, meanMicroseconds: mean / 1000,
                      p50Microseconds: p50 / 1000, p99Microseconds: p99 / 1000)
    }
}
