import DeviceModel
import X86Machine

/// What a Xen HVM guest expects of its only device model besides its disks and NICs: the
/// parts of QEMU's `xenfv` machine that Xen itself does not emulate (Xen keeps the PIC,
/// IO-APIC, LAPIC, PIT, RTC, HPET and the ACPI PM timer and event block for itself).
///
/// | Device | Where |
/// |---|---|
/// | i440FX host bridge, configuration mechanism #1 | 00:00.0; ports 0xCF8–0xCFF (0xCF9 reset control) |
/// | ``PIIX3ISABridge`` (PIRQ routes forwarded to the hypervisor) | 00:01.0 |
/// | COM1 ``UART16550`` when a serial output is given | ports 0x3F8–0x3FF, ISA IRQ 4 |
/// | ``I8042Controller`` (its reset line) | ports 0x60, 0x64, ISA IRQs 1 and 12 |
/// | ``SystemControlPortA`` (fast reset) | port 0x92 |
/// | ``ACPIPowerManagement`` PM1a control (S5 power-off) | port 0xB004 of the block at 0xB000 hvmloader's FADT names |
/// | ``ACPIGPEBlock`` (GPE0, no event sources) | ports 0xAFE0–0xAFE3 |
///
/// Xen answers PM1a_STS/EN (0xB000) and PM_TMR (0xB008) itself, before any device model sees
/// them, so of the block only PM1a_CNT reaches the device. Power-off and resets arrive as
/// ``MachineEvent``s for the owner to turn into domain shutdowns.
///
/// The hypervisor routes port accesses by claim: the owner claims what is registered in the
/// dispatcher (``IORequestServer/followRegistrations()``) and the two PCI functions
/// (``pciFunctions``).
public final class HVMPlatform: Sendable {
    /// How the platform is put together.
    public struct Configuration: Sendable {
        /// Where COM1's bytes go; `nil` leaves the UART out (libxl passes no `-serial`).
        public var serialOutput: SerialOutput?
        /// Receives power-off and reset requests, on the thread serving the access.
        public var events: MachineEventHandler
        /// Receives the PIIX3's PIRQ route changes (link 0–3, ISA IRQ or 0).
        public var linkRouteChanged: @Sendable (_ link: UInt8, _ irq: UInt8) -> Void

        public init(serialOutput: SerialOutput?, events: @escaping MachineEventHandler,
                    linkRouteChanged: @escaping @Sendable (_ link: UInt8, _ irq: UInt8) -> Void) {
            self.serialOutput = serialOutput
            self.events = events
            self.linkRouteChanged = linkRouteChanged
        }
    }

    /// The I/O base of the ACPI PM block in hvmloader's FADT (`ACPI_PM1A_EVT_BLK_ADDRESS_V1`).
    public static let acpiBase: UInt64 = 0xB000
    /// Slots the platform occupies on bus 0.
    public static let slots: Set<UInt8> = [0, PIIX3ISABridge.device]

    public let hostBridge: PCIHostBridge
    public let isaBridge: PIIX3ISABridge
    public let uart: UART16550?
    public let keyboardController: I8042Controller
    public let systemControlPortA: SystemControlPortA
    public let powerManagement: ACPIPowerManagement
    public let generalPurposeEvents: ACPIGPEBlock

    /// The functions the owner claims: 00:00.0 and 00:01.0.
    public var pciFunctions: [PCIAddress] {
        [PCIAddress(sbdf: 0), PCIAddress(sbdf: UInt32(PIIX3ISABridge.device) << 3)]
    }

    /// Builds the devices on `bus` and registers their ports in `bus.dispatcher`.
    public init(bus: PCIBus, interruptLines: any InterruptLineProvider, configuration: Configuration) throws(MachineError) {
        let events = configuration.events
        do {
            hostBridge = try PCIHostBridge(bus: bus, model: .i440fx, resetControl: ResetControlRegister(events: events))
            isaBridge = PIIX3ISABridge(linkRouteChanged: configuration.linkRouteChanged)
            try bus.attach(isaBridge, device: PIIX3ISABridge.device)
        } catch {
            throw .setupFailed("HVM platform PCI functions: \(error)")
        }
        let ports = bus.dispatcher.ports
        do {
            if let output = configuration.serialOutput {
                let uart = UART16550(interruptLine: try interruptLines.line(gsi: X86LegacyDevices.com1IRQ), output: output)
                try ports.register(base: X86LegacyDevices.com1Base, length: UART16550.portCount, name: "com1", handler: uart)
                self.uart = uart
            } else {
                uart = nil
            }
            keyboardController = I8042Controller(
                keyboardInterrupt: try interruptLines.line(gsi: X86LegacyDevices.keyboardIRQ),
                auxInterrupt: try interruptLines.line(gsi: X86LegacyDevices.auxIRQ), events: events)
            try ports.register(base: I8042Controller.dataPortAddress, length: 1, name: "i8042-data", handler: keyboardController.dataPort)
            try ports.register(base: I8042Controller.commandPortAddress, length: 1, name: "i8042-cmd", handler: keyboardController.commandPort)
            systemControlPortA = SystemControlPortA(events: events)
            try ports.register(base: SystemControlPortA.portAddress, length: 1, name: "port92", handler: systemControlPortA)
            // Xen raises the SCI for the event block it owns; this device never drives it.
            powerManagement = ACPIPowerManagement(sciLine: nil, events: events)
            try ports.register(base: Self.acpiBase, length: ACPIPowerManagement.portCount, name: "acpi-pm", handler: powerManagement)
            generalPurposeEvents = ACPIGPEBlock(length: Int(ACPIGPEBlock.xenLength))
            try ports.register(base: ACPIGPEBlock.xenBase, length: ACPIGPEBlock.xenLength, name: "acpi-gpe0", handler: generalPurposeEvents)
        } catch {
            throw .setupFailed("HVM platform devices: \(error)")
        }
    }
}
