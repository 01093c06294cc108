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
///   and ``MPTable`` (Intel MultiProcessor Specification 1.4), together ``FirmwareTables``,
///   all described by an ``X86PlatformDescription``.
///
/// A direct Linux boot, as a launcher does it:
/// ```swift
/// let layout = try X86MemoryLayout(ramSize: 512 << 20)
/// let platform = try X86PlatformDescription(layout: layout, cpuCount: 2,
///                                           virtioMMIODevices: Array(layout.virtioMMIOSlots.prefix(n)))
/// let tables = try FirmwareTables(platform: platform)
/// try tables.write(to: memory)
/// let boot = try LinuxLoader.load(kernel: LinuxKernelImage(path: kernelPath), initrd: initrd,
///                                 commandLine: "console=ttyS0", layout: layout,
///                                 acpiRSDPAddress: tables.rsdpAddress, into: memory)
/// // vCPU 0: long mode, identity map up to boot.identityMapEnd, RIP = boot.entryPoint64,
/// // RSI = boot.bootParamsAddress.
/// ```
///
/// Machine-level requests (power off, reset) reach the launcher as ``MachineEvent``s.
public enum X86MachineInfo {}
