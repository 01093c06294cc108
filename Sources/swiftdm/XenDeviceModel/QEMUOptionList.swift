/// A QEMU option value: `first,key=value,…` with `,,` standing for a literal comma (QEMU's
/// `QemuOpts` syntax). The first element may be a bare word (the implied key: a driver, a
/// backend, a machine type).
struct QEMUOptionList: Equatable {
    /// The implied value before the first `key=`, if the text started with a bare word.
    var implied: String?
    /// `key=value` pairs in order; a bare `key` later in the list reads as `key=on`.
    var pairs: [(key: String, value: String)]

    static func == (a: QEMUOptionList, b: QEMUOptionList) -> Bool {
        a.implied == b.implied && a.pairs.map(\.key) == b.pairs.map(\.key) && a.pairs.map(\.value) == b.pairs.map(\.value)
    }

    init(parsing text: String, impliedKey: Bool) {
        var parts: [String] = []
        var current = ""
        var chars = Array(text)
        var i = 0
        while i < chars.count {
            if chars[i] == "," {
                if i + 1 < chars.count, chars[i + 1] == "," {
                    current.append(",")
                    i += 2
                    continue
                }
                parts.append(current)
                current = ""
            } else {
                current.append(chars[i])
            }
            i += 1
        }
        parts.append(current)
        chars.removeAll()
        implied = nil
        pairs = []
        for (index, part) in parts.enumerated() {
            if let eq = part.firstIndex(of: "=") {
                pairs.append((String(part[..<eq]), String(part[part.index(after: eq)...])))
            } else if index == 0 && impliedKey {
                implied = part
            } else if !part.isEmpty {
                pairs.append((part, "on"))
            }
        }
    }

    /// The last value given for `key`.
    subscript(key: String) -> String? { pairs.last(where: { $0.key == key })?.value }

    /// Keys not in `known`, for a precise refusal.
    func unknownKeys(_ known: Set<String>) -> [String] { pairs.map(\.key).filter { !known.contains($0) } }
}
