/// One x86 segment register: the visible selector plus the hidden descriptor cache the CPU
/// loads from it (Intel SDM Vol. 3A §3.4.3). Entry states set the cache directly, so no
/// descriptor table has to exist for the values to take effect.
public struct SegmentRegister: Sendable, Hashable {
    public var selector: UInt16
    public var base: UInt64
    public var limit: UInt32
    /// Descriptor type (bits 3:0 of the access byte).
    public var type: UInt8
    public var present: Bool
    public var dpl: UInt8
    /// Default operand size (D/B).
    public var db: Bool
    /// Code/data (true) or system (false) descriptor.
    public var s: Bool
    /// 64-bit code segment.
    public var l: Bool
    /// Granularity: limit in 4 KiB units.
    public var g: Bool
    public var avl: Bool
    public var unusable: Bool

    public init(
        selector: UInt16, base: UInt64, limit: UInt32, type: UInt8, present: Bool = true, dpl: UInt8 = 0,
        db: Bool = false, s: Bool = true, l: Bool = false, g: Bool = false, avl: Bool = false, unusable: Bool = false
    ) {
        self.selector = selector
        self.base = base
        self.limit = limit
        self.type = type
        self.present = present
        self.dpl = dpl
        self.db = db
        self.s = s
        self.l = l
        self.g = g
        self.avl = avl
        self.unusable = unusable
    }
}
