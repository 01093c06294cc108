/// A message-signalled interrupt: the address/data pair a device writes (PCI MSI/MSI-X).
public struct MSIMessage: Sendable, Hashable, CustomStringConvertible {
    /// The address the device writes (x86: 0xFEExxxxx, destination APIC in bits 19:12).
    public var address: UInt64
    /// The data the device writes (x86: vector in bits 7:0, delivery mode in 10:8).
    public var data: UInt32

    /// A message with `address` and `data`.
    public init(address: UInt64, data: UInt32) {
        self.address = address
        self.data = data
    }

    /// The x86 vector number encoded in `data` (bits 7:0).
    public var vector: UInt8 { UInt8(truncatingIfNeeded: data) }

    public var description: String { "MSI(addr 0x\(String(address, radix: 16)), data 0x\(String(data, radix: 16)))" }
}

/// Errors a backend reports when it cannot deliver an interrupt.
public enum InterruptError: Error, Equatable, CustomStringConvertible {
    /// The backend's injection call failed, with its errno.
    case deliveryFailed(what: String, errno: Int32)
    /// No such GSI / line.
    case invalidLine(UInt32)

    public var description: String {
        switch self {
        case .deliveryFailed(let what, let errno): "interrupt delivery failed: \(what) (errno \(errno))"
        case .invalidLine(let line): "interrupt line \(line) does not exist"
        }
    }
}

/// Delivers MSIs to the guest: `KVM_SIGNAL_MSI`/irqfd on KVM, `xendevicemodel_inject_msi` on Xen,
/// a recorder in the test harness.
public protocol MSIController: AnyObject, Sendable {
    /// Delivers one message now.
    func signal(_ message: MSIMessage) throws(InterruptError)
    /// A route bound to one vector that delivers `message` until updated (``MSIVectorRoute``),
    /// or `nil` when the backend has no cheaper path than ``signal(_:)`` (the default).
    func makeVectorRoute(_ message: MSIMessage) throws(InterruptError) -> (any MSIVectorRoute)?
    /// True when the hypervisor masks `message` itself, so the MSI-X mask bits must not hold it
    /// back: Xen's PIRQ form (see ``XenMSIController``). `false` by default.
    func ignoresVectorMask(_ message: MSIMessage) -> Bool
}
