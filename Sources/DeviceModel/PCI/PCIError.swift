/// Errors from building or wiring PCI functions. Guest accesses never throw: they get the
/// spec's defined result (all ones, or a dropped write) instead.
public enum PCIError: Error, Equatable, CustomStringConvertible {
    /// A device number outside 0–31 or a function number outside 0–7.
    case invalidAddress(device: UInt8, function: UInt8)
    /// Another function is already attached at this device/function.
    case slotOccupied(device: UInt8, function: UInt8)
    /// A BAR index outside 0–5 (0–4 for the first half of a 64-bit BAR).
    case invalidBARIndex(Int)
    /// The BAR register (or the upper half of a 64-bit BAR) is already defined.
    case barInUse(Int)
    /// The size is not a power of two within the limits of the BAR kind.
    case invalidBARSize(kind: PCIBARKind, size: UInt64)
    /// No BAR is defined at this index.
    case barNotDefined(Int)
    /// Not enough room left in configuration space for a capability of this many bytes.
    case capabilitySpaceExhausted(needed: Int)
    /// A capability body whose writable mask has a different length.
    case capabilityMaskMismatch(bodyLength: Int, maskLength: Int)
    /// Extended capabilities need a 4 KiB (PCI Express) configuration space.
    case extendedCapabilitiesUnavailable
    /// MSI-X allows 1–2048 vectors.
    case invalidMSIXVectorCount(Int)
    /// A function has at most one MSI-X capability.
    case msixAlreadyPresent
    /// The MSI-X table or PBA does not fit its BAR, is misaligned, or lies in an I/O BAR.
    case invalidMSIXPlacement(String)
    /// The ECAM window is misaligned, empty, or too large.
    case invalidECAMWindow(base: UInt64, busCount: Int)
    /// Registering a range in the dispatcher failed.
    case registration(AddressSpaceError)
    /// The interrupt line for a function's INTx pin could not be obtained.
    case interruptRouting(InterruptError)

    public var description: String {
        switch self {
        case .invalidAddress(let d, let f): "PCI device \(d) function \(f) out of range (device 0-31, function 0-7)"
        case .slotOccupied(let d, let f): "PCI slot \(d).\(f) is already occupied"
        case .invalidBARIndex(let i): "BAR index \(i) out of range"
        case .barInUse(let i): "BAR \(i) is already defined"
        case .invalidBARSize(let kind, let size): "invalid \(kind) BAR size 0x\(String(size, radix: 16))"
        case .barNotDefined(let i): "BAR \(i) is not defined"
        case .capabilitySpaceExhausted(let n): "no room for a \(n)-byte capability in configuration space"
        case .capabilityMaskMismatch(let b, let m): "capability body is \(b) bytes but its writable mask is \(m) bytes"
        case .extendedCapabilitiesUnavailable: "extended capabilities need a 4 KiB configuration space"
        case .invalidMSIXVectorCount(let n): "MSI-X vector count \(n) is not in 1...2048"
        case .msixAlreadyPresent: "the function already has an MSI-X capability"
        case .invalidMSIXPlacement(let why): "invalid MSI-X table/PBA placement: \(why)"
        case .invalidECAMWindow(let base, let buses):
            "invalid ECAM window at 0x\(String(base, radix: 16)) for \(buses) buses"
        case .registration(let e): "PCI registration failed: \(e)"
        case .interruptRouting(let e): "PCI INTx routing failed: \(e)"
        }
    }
}
