/// A Xen domain ID (`domid_t`).
public typealias XenDomainID = UInt16

/// The ID of an ioreq server within its target domain (`ioservid_t`).
public typealias IoreqServerID = UInt16

/// An event-channel port number (`evtchn_port_t`), local to the domain that owns it.
public typealias XenEventChannelPort = UInt32

/// A guest frame number (`xen_pfn_t`): guest-physical address >> 12.
public typealias XenGuestFrame = UInt64
