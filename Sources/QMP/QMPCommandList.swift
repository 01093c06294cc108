/// Commands written as words, as `swiftdm qmp` takes them: each command name may be followed
/// by one word holding its arguments as a JSON object —
/// `stop migrate '{"uri": "file:/tmp/snap"}'` is `stop`, then `migrate` with a `uri`.
public struct QMPCommandList: Sendable, Equatable {
    /// A command and its arguments, in order.
    public struct Entry: Sendable, Equatable {
        /// The command's name, such as `migrate`.
        public var name: String
        /// Its `arguments` object, if the words gave one.
        public var arguments: JSONValue?

        /// `name` with `arguments`.
        public init(name: String, arguments: JSONValue? = nil) {
            self.name = name
            self.arguments = arguments
        }
    }

    /// Why words do not make a command list.
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        case empty
        /// A JSON word with no command before it, or a second one after the same command.
        case argumentsWithoutCommand(String)
        case badArguments(word: String, reason: String)

        public var description: String {
            switch self {
            case .empty: "no command given"
            case .argumentsWithoutCommand(let w): "arguments '\(w)' follow no command (give each command's arguments once, right after it)"
            case .badArguments(let w, let r): "arguments '\(w)' are not a JSON object: \(r)"
            }
        }
    }

    /// The commands in the order given.
    public var entries: [Entry]

    /// Parses `words`: a word starting with `{` is the arguments of the command before it,
    /// every other word a command name.
    public init(words: [String]) throws(Failure) {
        var entries: [Entry] = []
        for word in words {
            guard word.hasPrefix("{") else {
                entries.append(Entry(name: word, arguments: nil))
                continue
            }
            guard let last = entries.indices.last, entries[last].arguments == nil else {
                throw .argumentsWithoutCommand(word)
            }
            let parsed: JSONValue
            do { parsed = try JSONParser.parse(Array(word.utf8)) } catch {
                throw .badArguments(word: word, reason: "\(error)")
            }
            guard case .object = parsed else { throw .badArguments(word: word, reason: "not an object") }
            entries[last].arguments = parsed
        }
        guard !entries.isEmpty else { throw .empty }
        self.entries = entries
    }
}
