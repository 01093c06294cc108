/// Resource descriptors for `_CRS` buffers (ACPI 6.5 §6.4, "Resource Data Types for ACPI").
///
/// Each method appends one descriptor; ``AML/resourceTemplate(_:)`` adds the end tag.
struct ResourceTemplate {
    private(set) var bytes: [UInt8] = []

    /// Cacheability of an address-space memory range (type-specific flags bits 2:1).
    enum Cacheability: UInt8 {
        case nonCacheable = 0
        case cacheable = 1
        case writeCombining = 2
        case prefetchable = 3
    }

    /// `IO (Decode16, minimum, maximum, alignment, length)`: small item 0x47 (§6.4.2.5).
    mutating func io(minimum: UInt16, maximum: UInt16, alignment: UInt8, length: UInt8) {
        bytes += [0x47, 0x01] + AML.littleEndian(UInt64(minimum), 2) + AML.littleEndian(UInt64(maximum), 2) + [alignment, length]
    }

    /// `IRQNoFlags () { irqs }`: small item 0x22 (§6.4.2.1), edge-triggered, active-high.
    mutating func irqNoFlags(_ irqs: [UInt8]) {
        var mask: UInt16 = 0
        for irq in irqs {
            precondition(irq < 16, "IRQ descriptor holds ISA IRQs 0-15")
            mask |= 1 << UInt16(irq)
        }
        bytes += [0x22] + AML.littleEndian(UInt64(mask), 2)
    }

    /// `Memory32Fixed (ReadWrite/ReadOnly, base, length)`: large item 0x86 (§6.4.3.4).
    mutating func memory32Fixed(base: UInt32, length: UInt32, writable: Bool = true) {
        bytes += [0x86, 0x09, 0x00, writable ? 1 : 0] + AML.littleEndian(UInt64(base), 4) + AML.littleEndian(UInt64(length), 4)
    }

    /// `Interrupt (ResourceConsumer, Level/Edge, ActiveHigh/ActiveLow, Exclusive/Shared) { gsis }`:
    /// extended interrupt descriptor, large item 0x89 (§6.4.3.6).
    mutating func interrupt(_ gsis: [UInt32], levelTriggered: Bool, activeLow: Bool, shared: Bool = false) {
        precondition((1...255).contains(gsis.count))
        var flags: UInt8 = 0x01  // consumer
        if !levelTriggered { flags |= 0x02 }
        if activeLow { flags |= 0x04 }
        if shared { flags |= 0x08 }
        let length = 2 + 4 * gsis.count
        bytes += [0x89] + AML.littleEndian(UInt64(length), 2) + [flags, UInt8(gsis.count)]
        for g in gsis { bytes += AML.littleEndian(UInt64(g), 4) }
    }

    /// `WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, minimum, maximum, 0, length)`:
    /// word address space descriptor 0x88, type 2 (§6.4.3.5.3).
    mutating func wordBusNumber(minimum: UInt16, maximum: UInt16) {
        wordAddressSpace(type: 2, typeFlags: 0, minimum: minimum, maximum: maximum)
    }

    /// `WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, 0, minimum, maximum, 0, length)`.
    mutating func wordIO(minimum: UInt16, maximum: UInt16) {
        wordAddressSpace(type: 1, typeFlags: 0x03, minimum: minimum, maximum: maximum)
    }

    /// `DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, cacheability, ReadWrite, 0, minimum, maximum, 0, length)`:
    /// descriptor 0x87 (§6.4.3.5.2).
    mutating func dwordMemory(minimum: UInt32, maximum: UInt32, cacheability: Cacheability) {
        precondition(maximum >= minimum)
        bytes += [0x87] + AML.littleEndian(23, 2) + [0x00, Self.producerFixed, Self.memoryFlags(cacheability)]
        for v in [0, minimum, maximum, 0, maximum - minimum + 1] { bytes += AML.littleEndian(UInt64(v), 4) }
    }

    /// `QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, cacheability, ReadWrite, 0, minimum, maximum, 0, length)`:
    /// descriptor 0x8A (§6.4.3.5.1).
    mutating func qwordMemory(minimum: UInt64, maximum: UInt64, cacheability: Cacheability) {
        precondition(maximum >= minimum && maximum - minimum < UInt64.max)
        bytes += [0x8A] + AML.littleEndian(43, 2) + [0x00, Self.producerFixed, Self.memoryFlags(cacheability)]
        for v in [0, minimum, maximum, 0, maximum - minimum + 1] { bytes += AML.littleEndian(v, 8) }
    }

    /// General flags: producer (bit 0 clear), positive decode, MinFixed (bit 2), MaxFixed (bit 3).
    private static let producerFixed: UInt8 = 0x0C

    private static func memoryFlags(_ c: Cacheability) -> UInt8 { 0x01 | c.rawValue << 1 }  // read-write

    private mutating func wordAddressSpace(type: UInt8, typeFlags: UInt8, minimum: UInt16, maximum: UInt16) {
        precondition(maximum >= minimum)
        bytes += [0x88] + AML.littleEndian(13, 2) + [type, Self.producerFixed, typeFlags]
        let length = UInt64(maximum) - UInt64(minimum) + 1
        precondition(length <= 0xFFFF, "word address space length must fit in 16 bits")
        for v in [0, UInt64(minimum), UInt64(maximum), 0, length] { bytes += AML.littleEndian(v, 2) }
    }
}
