/// swiftdm's hypervisor-generic core.
///
/// - ``IORequest`` and ``IODispatcher``: every backend's exits become one request type,
///   dispatched through ``AddressSpace``s to ``IOHandler``s.
/// - ``GuestMemory``: the only way to touch guest RAM.
/// - ``MSIController`` and ``InterruptLine``: interrupts without knowing the backend.
/// - ``IOEventRegistrar`` and ``EventNotifier``: ioeventfds, in the kernel or in software.
/// - ``EventLoop``: GLib main contexts on explicit threads.
public enum DeviceModelInfo {
    /// The library version, also printed by `swiftdm --version`.
    public static let version = "0.1.0"
}
