import DeviceModel

/// swiftdm's x86-64 machine model, independent of the hypervisor backend.
///
/// Everything here is either an ``IOHandler`` that a launcher registers in an
/// ``IODispatcher`` or a builder of the data structures a guest finds in RAM:
///
/// - Legacy devices: ``UART16550`` (COM1), ``CMOS`` (RTC and NVRAM), ``I8042Controller``
///   (keyboard controller reset), ``SystemControlPortA`` (port 0x92), ``ResetControlRegister``
///   (port 0xCF9), ``ACPIPowerManagement`` (PM1 event/control blocks and PM timer),
///   ``DebugConsolePort`` (port 0x402); ``X86LegacyDevices`` creates and registers the set.
/// - Layout: ``X86MemoryLayout`` (RAM, PCI hole, ECAM, MMIO windows), ``E820Map``,
///   ``PCIInterruptRouting``, ``VirtioMMIOSlot``.
/// - Linux boot: ``LinuxSetupHeader``, ``LinuxKernelImage``, ``BootParams``, ``LinuxLoader``.
/// - Firmware tables: ``ACPITables`` (RSDP, XSDT, FADT, FACS, MADT, MCFG and a generated DSDT)
///   and ``MPTable`` (Intel MultiProcessor Specification 1.4).
///
/// Machine-level requests (power off, reset) reach the launcher as ``MachineEvent``s.
public enum X86MachineInfo {
    /// Where the guest-visible data structures of a direct Linux boot live.
    public static let summary = "x86-64 legacy devices, e820, Linux boot protocol, ACPI and MP tables"
}
