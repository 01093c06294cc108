import DeviceModel
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// The domain's end: after `xl destroy`, or a guest power-off or reboot the toolstack acted
/// on, the domain is gone and nothing will ever send a request again. A device model libxl
/// launched is killed by it; one attached on its own (`swiftdm xen --domid`) has to notice,
/// as QEMU does with its `@releaseDomain` watch.
extension XenIoreqServer {
    /// The watch token this server uses for `@releaseDomain`.
    var releaseDomainToken: String { "swiftdm-ioreq-\(domid)-\(id)" }

    /// True once ``watchDomain(onGone:)`` found the domain gone.
    public var isDomainGone: Bool { domainGone.load(ordering: .acquiring) }

    /// Watches the domain's lifetime: sets a xenstore watch on `@releaseDomain` (fired when
    /// any domain is shut down or destroyed) and, each time it fires, checks whether this
    /// domain still exists — its `/local/domain/<domid>` directory is there and Xen still
    /// knows it (`xendevicemodel_nr_vcpus` does not fail with `ESRCH`). A domain that is only
    /// shut down still exists until the toolstack destroys it.
    ///
    /// `onGone` runs once, on the I/O thread, when the domain is gone; it must not call
    /// ``stop()`` there (stop waits for the I/O thread): hand the teardown to another thread.
    /// The watch takes every event of the store handle's watch queue; the handle should
    /// carry no other watches. One watch per server; ``stop()`` removes it.
    public func watchDomain(onGone: @escaping @Sendable () -> Void) throws(XenError) {
        let store = hypervisor.store
        let token = releaseDomainToken
        let fd = try store.watchFileDescriptor()
        try lifecycle.withLock { (state: inout Lifecycle) throws(XenError) in
            if case .stopped = state { throw .stopped }
            try domainWatch.withLock { (watch: inout (source: EventSource, token: String)?) throws(XenError) in
                guard watch == nil else { throw .invalidArgument(what: "second domain watch of ioreq server", value: UInt64(id)) }
                let source = loop.watch(fd: fd, for: .readable) { [weak self] _ in
                    self?.releaseDomainFired(token: token, onGone: onGone)
                }
                watch = (source, token)
            }
        }
        do {
            // xenstored fires a new watch once at once: a domain already gone is seen now.
            try store.watch("@releaseDomain", token: token)
        } catch {
            let source = domainWatch.withLock { w in
                let old = w?.source
                w = nil
                return old
            }
            loop.sync { source?.cancel() }
            throw error
        }
    }

    /// Whether the domain still exists: its xenstore directory is there and Xen knows it.
    /// A check that cannot be made counts as "exists": a wrong "gone" would end the server.
    public func domainExists() -> Bool {
        do {
            if try hypervisor.store.read("/local/domain/\(domid)") == nil { return false }
        } catch {
            logger.debug("domain \(domid): xenstore read failed: \(error)")
        }
        do {
            _ = try hypervisor.control.vcpuCount(domid: domid)
        } catch {
            if error.errno == ESRCH { return false }
        }
        return true
    }

    /// The store's watch fd became readable (I/O thread): take every queued event; if one is
    /// ours and the domain is gone, report it (once).
    private func releaseDomainFired(token: String, onGone: @Sendable () -> Void) {
        var ours = false
        while true {
            let event: XenStoreWatchEvent?
            do {
                event = try hypervisor.store.nextWatchEvent()
            } catch {
                logger.warning("domain \(domid): reading xenstore watch events failed: \(error)")
                return
            }
            guard let event else { break }
            if event.token == token { ours = true }
        }
        guard ours, !isDomainGone, !domainExists() else { return }
        guard !domainGone.exchange(true, ordering: .acquiringAndReleasing) else { return }
        logger.info("domain \(domid) is gone")
        onGone()
    }
}
