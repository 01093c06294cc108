/// A PCI function a device model plugs into a ``PCIBus``.
///
/// The function owns its ``PCIConfigSpace`` (identity, BAR definitions, capabilities) and
/// serves accesses to its BARs. The bus does the rest: configuration accesses, BAR
/// placement in the dispatcher, the MSI-X table and PBA (which never reach
/// ``readBAR(_:offset:size:)``), and INTx routing.
///
/// BAR methods are called from vCPU threads, possibly several at once.
public protocol PCIFunction: AnyObject, Sendable {
    /// The function's configuration space.
    var configSpace: PCIConfigSpace { get }
    /// Reads `size` (1, 2, 4 or 8) bytes at `offset` into BAR `bar` (the lower index of a
    /// 64-bit BAR); the access lies inside the BAR.
    func readBAR(_ bar: Int, offset: UInt64, size: Int) -> UInt64
    /// Writes the low `size` bytes of `value` at `offset` into BAR `bar`.
    func writeBAR(_ bar: Int, offset: UInt64, size: Int, value: UInt64)
}

/// A function that intercepts its own configuration accesses: for registers whose value is
/// computed on read, or writes with side effects (virtio's PCI configuration access
/// capability, a host bridge's chipset registers).
public protocol PCIConfigHooks: PCIFunction {
    /// Called before a guest configuration read; return a value to answer with instead of the
    /// configuration space contents, or `nil`. `size` is 1, 2 or 4 and the access does not
    /// cross a dword boundary.
    func configRead(at offset: Int, size: Int) -> UInt32?
    /// Called after a guest configuration write has been applied to ``PCIFunction/configSpace``
    /// (write masks and W1C already done); `value` is what the guest wrote.
    func configWritten(at offset: Int, size: Int, value: UInt32)
}

/// A function that wants to know where its BARs are decoded, for example to register
/// ioeventfds at a notify address inside a BAR.
public protocol PCIBARObserver: PCIFunction {
    /// BAR `bar` now decodes at `mapping`, or nowhere (`nil`). Called by the bus under its
    /// mapping lock, in order; it must not call back into the ``PCIBus``.
    func barMappingChanged(_ bar: Int, to mapping: PCIBARMapping?)
}

extension PCIFunction {
    /// Serves a guest read of BAR `bar`: the MSI-X table and PBA first, then
    /// ``readBAR(_:offset:size:)``. The bus uses this; a device emulating a BAR access
    /// itself (virtio's PCI configuration access capability) should too.
    public func routeBARRead(_ bar: Int, offset: UInt64, size: Int) -> UInt64 {
        if let msix = configSpace.msix, let value = msix.read(bar: bar, offset: offset, size: size) {
            return value
        }
        return readBAR(bar, offset: offset, size: size)
    }

    /// Serves a guest write of BAR `bar`: the MSI-X table and PBA first, then
    /// ``writeBAR(_:offset:size:value:)``.
    public func routeBARWrite(_ bar: Int, offset: UInt64, size: Int, value: UInt64) {
        if let msix = configSpace.msix, msix.write(bar: bar, offset: offset, size: size, value: value) {
            return
        }
        writeBAR(bar, offset: offset, size: size, value: value)
    }

    /// A guest configuration read: hooks first, then the configuration space.
    func guestConfigRead(at offset: Int, size: Int) -> UInt32 {
        guard configSpace.isValidAccess(offset: offset, size: size) else { return PCIConfigSpace.allOnes(size) }
        if let hooks = self as? any PCIConfigHooks, let value = hooks.configRead(at: offset, size: size) {
            return value & PCIConfigSpace.allOnes(size)
        }
        return configSpace.read(at: offset, size: size)
    }

    /// A guest configuration write: the configuration space, then the hook.
    func guestConfigWrite(at offset: Int, size: Int, value: UInt32) {
        guard configSpace.isValidAccess(offset: offset, size: size) else { return }
        let value = value & PCIConfigSpace.allOnes(size)
        configSpace.guestWrite(at: offset, size: size, value: value)
        if let hooks = self as? any PCIConfigHooks {
            hooks.configWritten(at: offset, size: size, value: value)
        }
    }
}
