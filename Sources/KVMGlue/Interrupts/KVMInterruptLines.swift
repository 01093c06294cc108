import CKVM
import DeviceModel
#if canImport(Glibc)
import Glibc
#endif

/// Wired interrupts on the in-kernel PIC/IOAPIC with `KVM_IRQ_LINE`.
///
/// A GSI reaches the pins the routing table gives it (``KVMGSIRouting``): with either of its
/// irqchip tables, GSI n for 1 ≤ n < 24, n ≠ 2, drives IOAPIC pin n and, for n < 16, pin n % 8 of
/// the master or slave PIC — ISA IRQ n is GSI n.
public final class KVMInterruptLines: InterruptLineProvider {
    /// GSIs with a kernel irqchip route: the IOAPIC's pins.
    public static let gsiCount: UInt32 = 24

    public let vm: KVMVirtualMachine

    public init(vm: KVMVirtualMachine) { self.vm = vm }

    public func line(gsi: UInt32) throws(InterruptError) -> any InterruptLine {
        guard gsi < Self.gsiCount else { throw .invalidLine(gsi) }
        return KVMInterruptLine(vm: vm, gsi: gsi)
    }
}

/// One GSI driven with `KVM_IRQ_LINE`; the kernel keeps the level (for level-triggered
/// IOAPIC pins it re-delivers after EOI while the line stays high).
public final class KVMInterruptLine: InterruptLine {
    public let vm: KVMVirtualMachine
    public let gsi: UInt32

    init(vm: KVMVirtualMachine, gsi: UInt32) {
        self.vm = vm
        self.gsi = gsi
    }

    public func setLevel(_ asserted: Bool) throws(InterruptError) {
        guard ckvm_irq_line(vm.fd, gsi, asserted ? 1 : 0) == 0 else {
            throw .deliveryFailed(what: "KVM_IRQ_LINE gsi \(gsi) = \(asserted ? 1 : 0)", errno: errno)
        }
    }

    public func pulse() throws(InterruptError) {
        try setLevel(true)
        try setLevel(false)
    }
}
