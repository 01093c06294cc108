import DeviceModel

/// The PC platform devices of an x86 machine, created together and registered at their
/// standard ports:
///
/// | Device                   | Ports          | Interrupt |
/// |--------------------------|----------------|-----------|
/// | ``UART16550`` (COM1)     | 0x3F8–0x3FF    | IRQ 4     |
/// | ``CMOS`` (RTC, NVRAM)    | 0x70–0x71      | —         |
/// | ``I8042Controller``      | 0x60, 0x64     | IRQ 1, 12 |
/// | ``SystemControlPortA``   | 0x92           | —         |
/// | ``ACPIPowerManagement``  | 0x600–0x60B    | SCI, IRQ 9|
/// | ``DebugConsolePort``     | 0x402 (optional) | —       |
/// | ``PVPanicPort``          | 0x505          | —         |
/// | ``ResetControlRegister`` | 0xCF9 (forwarded by the PCI conf1 handler) | — |
///
/// ISA IRQ *n* is GSI *n* here (the MADT only overrides IRQ 0 → GSI 2).
public final class X86LegacyDevices: Sendable {
    public static let com1Base: UInt64 = 0x3F8
    public static let com1IRQ: UInt32 = 4
    public static let keyboardIRQ: UInt32 = 1
    public static let auxIRQ: UInt32 = 12
    public static let cmosBase: UInt64 = 0x70

    public let uart: UART16550
    public let cmos: CMOS
    public let keyboardController: I8042Controller
    public let systemControlPortA: SystemControlPortA
    /// Port 0xCF9: hand it to the PCI host bridge's conf1 handler, or register it with
    /// `includingResetControl: true` when nothing claims 0xCF8–0xCFF.
    public let resetControl: ResetControlRegister
    public let powerManagement: ACPIPowerManagement
    public let debugConsole: DebugConsolePort?
    /// QEMU's pvpanic port, which the DSDT describes as `QEMU0001`.
    public let panicNotifier: PVPanicPort

    /// Creates the devices.
    /// - Parameters:
    ///   - layout: RAM sizes for the CMOS fields.
    ///   - cpuCount: CPU count for the CMOS field.
    ///   - interrupts: the backend's lines (GSIs 1, 4, 9 and 12 are taken).
    ///   - serialOutput: where COM1's transmitted bytes go.
    ///   - debugOutput: where port 0x402 bytes go; `nil` leaves the port unclaimed.
    ///   - clock: time source for the RTC and the PM timer.
    ///   - events: receives power-off, reset and panic reports.
    public init(
        layout: X86MemoryLayout, cpuCount: Int, interrupts: any InterruptLineProvider,
        serialOutput: @escaping SerialOutput, debugOutput: SerialOutput? = nil,
        clock: any HostClock = SystemHostClock(), events: @escaping MachineEventHandler
    ) throws(InterruptError) {
        uart = UART16550(interruptLine: try interrupts.line(gsi: Self.com1IRQ), output: serialOutput)
        cmos = CMOS(layout: layout, cpuCount: cpuCount, clock: clock)
        keyboardController = I8042Controller(
            keyboardInterrupt: try interrupts.line(gsi: Self.keyboardIRQ),
            auxInterrupt: try interrupts.line(gsi: Self.auxIRQ), events: events)
        systemControlPortA = SystemControlPortA(events: events)
        resetControl = ResetControlRegister(events: events)
        powerManagement = ACPIPowerManagement(
            sciLine: try interrupts.line(gsi: UInt32(ACPIPowerManagement.sciInterrupt)), clock: clock, events: events)
        debugConsole = debugOutput.map { DebugConsolePort(output: $0) }
        panicNotifier = PVPanicPort(events: events)
    }

    /// Resets every device to its power-on state, as a machine-wide reset does
    /// (``DeviceModel/SystemResettable``): CMOS RAM and the clock keep their contents, the
    /// UART's unread host input stays queued; the debug and pvpanic ports have no state.
    public func systemReset() {
        let devices: [any SystemResettable] = [uart, cmos, keyboardController, systemControlPortA, resetControl, powerManagement]
        for device in devices { device.systemReset() }
    }

    /// Registers every device in `dispatcher.ports`.
    public func register(in dispatcher: IODispatcher, includingResetControl: Bool = false) throws(AddressSpaceError) {
        let ports = dispatcher.ports
        try ports.register(base: Self.com1Base, length: UART16550.portCount, name: "com1", handler: uart)
        try ports.register(base: Self.cmosBase, length: CMOS.portCount, name: "cmos", handler: cmos)
        try ports.register(base: I8042Controller.dataPortAddress, length: 1, name: "i8042-data", handler: keyboardController.dataPort)
        try ports.register(base: I8042Controller.commandPortAddress, length: 1, name: "i8042-cmd", handler: keyboardController.commandPort)
        try ports.register(base: SystemControlPortA.portAddress, length: 1, name: "port92", handler: systemControlPortA)
        try ports.register(
            base: UInt64(ACPIPowerManagement.defaultBase), length: ACPIPowerManagement.portCount,
            name: "acpi-pm", handler: powerManagement)
        try ports.register(base: PVPanicPort.portAddress, length: 1, name: "pvpanic", handler: panicNotifier)
        if let debugConsole {
            try ports.register(base: DebugConsolePort.portAddress, length: 1, name: "debugcon", handler: debugConsole)
        }
        if includingResetControl {
            try ports.register(base: ResetControlRegister.portAddress, length: 1, name: "reset-control", handler: resetControl)
        }
    }
}
