import Foundation

/// What one L1 boot of the nested-KVM lab printed, split into its scenarios.
public struct NestedKVMLabRun: Sendable {
    /// L1's whole console (carriage returns removed).
    public let console: String
    /// L1 uptime when `/dev/kvm` was ready, in seconds.
    public let kvmReadyUptime: Double?
    /// Host wall time of the whole L1 run, in seconds.
    public let wallSeconds: Double
    /// QEMU's exit status; `nil` when it had to be killed.
    public let hostStatus: Int32?
    /// Each scenario that began, in order.
    public let scenarios: [NestedKVMScenarioResult]
    /// L1's network interface for the host forward, once configured (`LAB-NET-READY`).
    public let networkInterface: String?

    /// Splits `console` at the runner's markers.
    public init(console raw: String, wallSeconds: Double, hostStatus: Int32?) {
        let console = String(String.UnicodeScalarView(raw.unicodeScalars.filter { $0 != "\r" }))
        self.console = console
        self.wallSeconds = wallSeconds
        self.hostStatus = hostStatus
        var ready: Double?
        var network: String?
        var results: [NestedKVMScenarioResult] = []
        var current: (name: String, lines: [Substring], files: [String: Data])?
        // A returned file being read: its L1 path and base64 lines.
        var file: (path: String, base64: String)?
        var retries: [String: String] = [:]
        for line in console.split(separator: "\n", omittingEmptySubsequences: false) {
            let fields = line.split(separator: " ")
            if let f = file {
                if line == "\(LabRunnerScript.fileEndMarker) \(f.path)" {
                    current?.files[f.path] = Data(base64Encoded: f.base64) ?? Data()
                    file = nil
                } else {
                    file?.base64 += line.trimmingCharacters(in: .whitespaces)
                }
            } else if line.hasPrefix(LabRunnerScript.fileBeginMarker + " "), current != nil {
                file = (String(line.dropFirst(LabRunnerScript.fileBeginMarker.count + 1)), "")
            } else if line.hasPrefix(LabRunnerScript.netReadyMarker + " if="), let v = fields.dropFirst().first {
                network = String(v.dropFirst("if=".count))
            } else if line.hasPrefix(LabRunnerScript.kvmReadyMarker), let v = fields.dropFirst().first {
                ready = Double(v.dropFirst("uptime=".count))
            } else if line.hasPrefix(LabRunnerScript.beginMarker + " "), fields.count >= 2 {
                if let c = current { results.append(NestedKVMScenarioResult(name: c.name, output: c.lines, status: nil, seconds: nil, files: c.files)) }
                current = (String(fields[1]), [], [:])
            } else if line.hasPrefix(LabRunnerScript.retryMarker + " "), fields.count >= 2, let c = current, c.name == fields[1] {
                // The discarded attempt's output goes; the reason stays with the result.
                current = (c.name, [], [:])
                retries[c.name] = fields.dropFirst(2).joined(separator: " ")
            } else if line.hasPrefix(LabRunnerScript.endMarker + " "), fields.count >= 2, let c = current, c.name == fields[1] {
                let value = { (key: String) in fields.first { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) } }
                results.append(NestedKVMScenarioResult(name: c.name, output: c.lines, status: value("status").flatMap { Int32($0) },
                                                       seconds: value("seconds").flatMap(Double.init), files: c.files))
                current = nil
            } else if current != nil {
                current?.lines.append(line)
            }
        }
        if let c = current { results.append(NestedKVMScenarioResult(name: c.name, output: c.lines, status: nil, seconds: nil, files: c.files)) }
        kvmReadyUptime = ready
        networkInterface = network
        scenarios = results.map { r in
            var r = r
            r.retryReason = retries[r.name]
            return r
        }
    }

    /// The result of the scenario called `name`, if it began.
    public subscript(name: String) -> NestedKVMScenarioResult? { scenarios.first { $0.name == name } }
}

/// One scenario's part of the L1 console.
public struct NestedKVMScenarioResult: Sendable {
    /// The scenario's name.
    public let name: String
    /// Everything printed between its begin and end markers: the L2 console (through
    /// `swiftdm`'s standard output), `swiftdm`'s own messages, then its L1 checks.
    public let output: String
    /// The command's exit status (137 when L1 killed it at the timeout); `nil` when the
    /// scenario never ended (L1 died or was killed).
    public let status: Int32?
    /// L1 time the command took, in seconds (L1's clock runs at TCG speed, close to wall time).
    public let seconds: Double?
    /// The scenario's ``NestedKVMScenario/returnedFiles`` that L1 had, by L1 path (a file whose
    /// base64 did not decode is empty; one L1 did not have is absent).
    public let files: [String: Data]
    /// Why the scenario's first attempt was discarded and it ran again (``LabRunnerScript/retryCondition``);
    /// nil when it ran once.
    public internal(set) var retryReason: String?

    init(name: String, output: [Substring], status: Int32?, seconds: Double?, files: [String: Data] = [:]) {
        self.name = name
        self.output = output.joined(separator: "\n")
        self.status = status
        self.seconds = seconds
        self.files = files
    }

    /// The L2 guest's run, parsed as on the host (``GuestInit`` markers, `key=value` lines).
    public var guest: GuestRun { GuestRun(console: output, wallSeconds: seconds ?? 0, hostStatus: status) }

    /// The value of `key=value` printed anywhere in the output after the L2 run — by the
    /// scenario's L1 checks (last occurrence).
    public func reported(_ key: String) -> String? {
        for line in output.split(separator: "\n").reversed() {
            if let r = line.range(of: key + "=") , r.lowerBound == line.startIndex {
                return String(line[r.upperBound...].prefix { !$0.isWhitespace })
            }
        }
        return nil
    }
}
