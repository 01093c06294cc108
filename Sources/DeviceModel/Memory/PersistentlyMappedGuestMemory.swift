/// Guest memory whose host mappings stay put for as long as the object lives: a host slice
/// obtained inside ``GuestMemory/withSlices(at:length:_:)`` remains valid after the call as
/// long as the caller keeps the memory object alive.
///
/// That is what asynchronous I/O needs (an io_uring `readv` that lands after the call
/// returned). Memory mapped on demand (Xen's ``PageMappedGuestMemory``) does not conform:
/// its mappings may be dropped between calls, so such I/O must run inside the call.
public protocol PersistentlyMappedGuestMemory: GuestMemory {}

// The region table is immutable and the mappings are released only in deinit.
extension MappedGuestMemory: PersistentlyMappedGuestMemory {}
