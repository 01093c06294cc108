/// The PCI slots (devices on bus 0) a served machine may use, in the order it uses them:
/// parsed from `4-7,9`-style lists, and never the slots a Xen `xenfv` machine keeps for its
/// own devices.
public struct PCISlotList: Sendable, Hashable, CustomStringConvertible {
    /// Slots a Xen HVM guest's platform occupies: 00:00.0 the host bridge, 00:01.x the PIIX3
    /// (hvmloader writes its PIRQ routes at devfn 0x08 and asserts that it is a PIIX3),
    /// 00:02.0 VGA, 00:03.0 the Xen platform device. A device there breaks firmware or hides
    /// qemu-xen's own.
    public static let xenfvPlatformSlots: Set<UInt8> = [0, 1, 2, 3]

    /// Every slot after the platform's.
    public static let afterXenfvPlatform = PCISlotList(uncheckedSlots: Array(4..<32))

    public let slots: [UInt8]

    private init(uncheckedSlots: [UInt8]) { slots = uncheckedSlots }

    /// Parses `text` (`N`, `N-M`, comma-separated, 0–31), refusing duplicates and `reserved`.
    public init(parsing text: String, option: String, reserved: Set<UInt8> = PCISlotList.xenfvPlatformSlots) throws(MachineError) {
        func bad(_ why: String) -> MachineError { .badValue(option: option, value: text, expected: why) }
        var slots: [UInt8] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let ends = part.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
            guard let first = UInt8(ends[0]), let last = UInt8(ends.last ?? ends[0]), first <= last, last < 32 else {
                throw bad("slot numbers 0–31 or ranges like 4-7, separated by commas")
            }
            slots += Array(first...last)
        }
        if let taken = slots.first(where: { reserved.contains($0) }) {
            throw bad("slot \(taken) holds the Xen HVM platform (00:00 host bridge, 00:01 PIIX3, 00:02 VGA, 00:03 Xen platform device)")
        }
        guard Set(slots).count == slots.count else { throw bad("each slot once") }
        self.slots = slots
    }

    public var description: String { slots.map(String.init).joined(separator: ",") }
}
