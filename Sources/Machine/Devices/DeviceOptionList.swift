/// One device option as written on a command line: comma-separated fields, QEMU style.
///
/// `disk.img,readonly=on,serial=d0` is the positional field `disk.img` followed by the options
/// `readonly=on` and `serial=d0`. A doubled comma stands for a literal comma, so a path may
/// contain commas (`a,,b.img` is the file `a,b.img`), as in QEMU. A field without `=` is a key
/// with no value (`readonly` alone).
public struct DeviceOptionList: Hashable, Sendable {
    /// One `key=value` (or bare `key`) field.
    public struct Field: Hashable, Sendable {
        public var key: String
        /// `nil` for a bare key.
        public var value: String?

        public init(key: String, value: String?) {
            self.key = key
            self.value = value
        }
    }

    /// The text as given, for messages.
    public let text: String
    /// The fields in order, with `,,` already unescaped.
    public let fields: [String]

    /// Splits `text` at single commas.
    public init(_ text: String) {
        self.text = text
        var fields: [String] = []
        var current = ""
        var chars = Substring(text)
        while let c = chars.popFirst() {
            if c == "," {
                if chars.first == "," {
                    current.append(",")
                    chars = chars.dropFirst()
                } else {
                    fields.append(current)
                    current = ""
                }
            } else {
                current.append(c)
            }
        }
        fields.append(current)
        self.fields = fields
    }

    /// Every field as an option (`key=value` or a bare `key`).
    public var options: [Field] { fields.map(Self.field) }

    /// The first field taken as it is (a path), and the others as options.
    public var positionalAndOptions: (positional: String, options: [Field]) {
        (fields[0], fields.dropFirst().map(Self.field))
    }

    static func field(_ text: String) -> Field {
        guard let eq = text.firstIndex(of: "=") else { return Field(key: text, value: nil) }
        return Field(key: String(text[..<eq]), value: String(text[text.index(after: eq)...]))
    }

}
