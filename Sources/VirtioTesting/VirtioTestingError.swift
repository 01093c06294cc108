import DeviceModel
import DeviceModelTesting
import Virtio

/// Why a device could not be put on a simulated transport. Each case carries the error of
/// the step that failed.
public enum VirtioTestingError: Error, Equatable, CustomStringConvertible {
    /// The simulated machine could not be built.
    case machine(SimulationError)
    /// The transport's interrupt line could not be had.
    case interruptLine(gsi: UInt32, InterruptError)
    /// The transport refused the device or its placement.
    case transport(VirtioTransportError)
    /// The PCI bus could not be built, or refused the function at `slot`.
    case pci(slot: UInt8, PCIError)
    /// The test driver could not find or set up the device.
    case driver(VirtioTestDriverError)

    public var description: String {
        switch self {
        case .machine(let e): "simulated machine: \(e)"
        case .interruptLine(let gsi, let e): "interrupt line for GSI \(gsi): \(e)"
        case .transport(let e): "virtio transport: \(e)"
        case .pci(let slot, let e): "PCI slot \(slot): \(e)"
        case .driver(let e): "test driver: \(e)"
        }
    }
}
