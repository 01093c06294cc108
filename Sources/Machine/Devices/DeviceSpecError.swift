/// Why a device option was refused: one line naming the option, the offending text and what
/// would have been accepted.
public struct DeviceSpecError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The option as the front end spells it (`--disk`, `--blk`, `--net mac`, `--device`).
    public var option: String
    /// The offending text.
    public var value: String
    /// What is expected instead.
    public var expected: String

    public init(option: String, value: String, expected: String) {
        self.option = option
        self.value = value
        self.expected = expected
    }

    public var description: String { "\(option) '\(value)': \(expected)" }
}
