/// A GDTR or IDTR: the linear base of the table and its limit (size in bytes minus one).
public struct DescriptorTableRegister: Sendable, Hashable {
    public var base: UInt64
    public var limit: UInt16

    public init(base: UInt64, limit: UInt16) {
        self.base = base
        self.limit = limit
    }
}
