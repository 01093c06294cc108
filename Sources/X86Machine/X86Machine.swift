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
/// - Linux boot: ``LinuxSetupHeader``, ``LinuxKernelImage``, ``BootParams``, ``LinuxLoader``,
///   ``LinuxBootAddresses``, and ``LongModeEntry`` (GDT, identity-map page tables, 64-bit entry state).
/// - CPU state: ``X86CPUState`` (with ``SegmentRegister`` and ``DescriptorTableRegister``), the
///   hypervisor-neutral register values a backend loads into a vCPU; ``X86CPUState/powerOn`` is
///   the reset state firmware starts in.
/// - Firmware: ``FirmwareImage`` (a BIOS image's placement below 4 GiB and below 1 MiB) and
///   ``FirmwareConfig`` (QEMU's fw_cfg interface).
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
/// let entry = LongModeEntry(linux: boot)
/// try entry.writeTables(to: memory)
/// // The backend loads entry.cpuState into vCPU 0 (KVMGlue: `vcpu.setRegisters(entry.cpuState)`).
/// ```
///
/// A firmware boot: ``FirmwareImage`` says where the BIOS goes (the backend maps it read-only
/// at ``FirmwareImage/highRange``; ``FirmwareImage/writeLegacyCopy(to:)`` fills the copy below
/// 1 MiB), and vCPU 0 starts in ``X86CPUState/powerOn``.
///
/// Machine-level requests (power off, reset) reach the launcher as ``MachineEvent``s.
public enum X86MachineInfo {}
