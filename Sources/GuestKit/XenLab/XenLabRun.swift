import Foundation

/// What one boot of the Xen lab printed (Xen's console, dom0's console on `hvc0` through it),
/// split into its scenarios.
public struct XenLabRun: Sendable {
    /// The whole console (carriage returns removed).
    public let console: String
    /// dom0 uptime when the toolstack was ready (`xl info` listed HVM), in seconds.
    public let dom0ReadyUptime: Double?
    /// What dom0 printed instead of getting ready when `xl info` listed no HVM support.
    public let noHVMReason: String?
    /// Host wall time of the whole QEMU run, in seconds.
    public let wallSeconds: Double
    /// QEMU's exit status; `nil` when it had to be killed.
    public let hostStatus: Int32?
    /// Each scenario that began, in order.
    public let scenarios: [XenLabScenarioResult]
    /// True when the lab killed QEMU because its console had gone silent (``XenLab/stallLimit``).
    public let stalled: Bool

    /// Splits `console` at the runner's markers (``XenLabScripts``).
    public init(console raw: String, wallSeconds: Double, hostStatus: Int32?, stalled: Bool = false) {
        self.stalled = stalled
        let console = String(String.UnicodeScalarView(raw.unicodeScalars.filter { $0 != "\r" }))
        self.console = console
        self.wallSeconds = wallSeconds
        self.hostStatus = hostStatus
        var ready: Double?
        var noHVM: String?
        var results: [XenLabScenarioResult] = []
        var current: (name: String, lines: [Substring])?
        for line in console.split(separator: "\n", omittingEmptySubsequences: false) {
            let fields = line.split(separator: " ")
            if line.hasPrefix(XenLabScripts.readyMarker + " "), let v = fields.dropFirst().first {
                ready = Double(v.dropFirst("uptime=".count))
            } else if line.hasPrefix(XenLabScripts.noHVMMarker) {
                noHVM = String(line.dropFirst(XenLabScripts.noHVMMarker.count)).trimmingCharacters(in: .whitespaces)
            } else if line.hasPrefix(XenLabScripts.beginMarker + " "), fields.count >= 2 {
                if let c = current { results.append(XenLabScenarioResult(name: c.name, output: c.lines, status: nil, seconds: nil)) }
                current = (String(fields[1]), [])
            } else if line.hasPrefix(XenLabScripts.endMarker + " "), fields.count >= 2, let c = current, c.name == fields[1] {
                let value = { (key: String) in fields.first { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) } }
                results.append(XenLabScenarioResult(name: c.name, output: c.lines, status: value("status").flatMap { Int32($0) },
                                                    seconds: value("seconds").flatMap(Double.init)))
                current = nil
            } else if current != nil {
                current?.lines.append(line)
            }
        }
        if let c = current { results.append(XenLabScenarioResult(name: c.name, output: c.lines, status: nil, seconds: nil)) }
        dom0ReadyUptime = ready
        noHVMReason = noHVM
        scenarios = results
    }

    /// The result of the scenario called `name`, if it began.
    public subscript(name: String) -> XenLabScenarioResult? { scenarios.first { $0.name == name } }
}

/// One scenario's part of the lab's console.
public struct XenLabScenarioResult: Sendable {
    /// The scenario's name.
    public let name: String
    /// Everything printed between its begin and end markers: the script's output and, since
    /// the console is shared, any hypervisor or dom0 kernel lines printed meanwhile.
    public let output: String
    /// The script's exit status (137 when dom0 killed it at the timeout); `nil` when the
    /// scenario never ended (dom0 died or QEMU was killed).
    public let status: Int32?
    /// dom0 time the script took, in seconds.
    public let seconds: Double?

    init(name: String, output: [Substring], status: Int32?, seconds: Double?) {
        self.name = name
        self.output = output.joined(separator: "\n")
        self.status = status
        self.seconds = seconds
    }

    /// The value of the last `key=value` line the script printed (the line starts with `key=`).
    ///
    /// Xen prints guests' debug-port lines (`(d2) …`) on the same console as dom0, and one can
    /// land in the middle of a dom0 line; such an interjection is cut out of the value.
    public func reported(_ key: String) -> String? {
        let marker = key + "="
        for line in output.split(separator: "\n").reversed() {
            guard let at = Self.keyStart(marker, in: line) else { continue }
            var value = String(line[at...].dropFirst(marker.count).prefix { !$0.isWhitespace })
            if let cut = Self.xenInterjection(in: value) { value = String(value[..<cut]) }
            return value
        }
        return nil
    }

    /// Where `marker` starts in `line`: at its start, or right after a Xen interjection.
    static func keyStart(_ marker: String, in line: Substring) -> Substring.Index? {
        if line.hasPrefix(marker) { return line.startIndex }
        guard xenInterjection(in: String(line)) != nil else { return nil }
        var search = line.startIndex
        while let r = line.range(of: marker, range: search..<line.endIndex) {
            // Not the tail of a longer key (`xl_list_has_domain=` for `domain=`).
            if r.lowerBound == line.startIndex || !(line[line.index(before: r.lowerBound)].isLetter || line[line.index(before: r.lowerBound)].isNumber || line[line.index(before: r.lowerBound)] == "_") {
                return r.lowerBound
            }
            search = r.upperBound
        }
        return nil
    }

    /// The start of a `(dN)` guest-console prefix in `text`, if any.
    static func xenInterjection(in text: String) -> String.Index? {
        var search = text.startIndex
        while let r = text.range(of: "(d", range: search..<text.endIndex) {
            let digits = text[r.upperBound...].prefix { $0.isNumber }
            if !digits.isEmpty, text[digits.endIndex...].hasPrefix(")") { return r.lowerBound }
            search = r.upperBound
        }
        return nil
    }

    /// The lines of `output` containing `text`.
    public func lines(containing text: String) -> [String] {
        output.split(separator: "\n").filter { $0.contains(text) }.map(String.init)
    }
}
