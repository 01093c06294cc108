import DeviceModel
import Synchronization

/// Delivers MSIs through irqfds: each distinct message gets an MSI route and an eventfd the
/// first time it is sent; after that ``signal(_:)`` is one eventfd write, and the kernel injects
/// the interrupt from its irqfd wake-up without returning to swiftdm.
///
/// Guests program a handful of MSI-X vectors once, so routes are created rarely (each costs a
/// `KVM_SET_GSI_ROUTING`). At most `capacity` routes are kept; the least recently used one makes
/// room for a new message.
public final class KVMIrqfdMSIController: MSIController {
    public let routing: KVMGSIRouting
    public let capacity: Int
    private let state = Mutex<State>(State())

    private struct State {
        var routes: [MSIMessage: MSIRoute] = [:]
        var lastUse: [MSIMessage: UInt64] = [:]
        var clock: UInt64 = 0
    }

    public init(routing: KVMGSIRouting, capacity: Int = 256) {
        self.routing = routing
        self.capacity = max(1, capacity)
    }

    /// Messages that currently have a route.
    public var routedMessages: Set<MSIMessage> { state.withLock { Set($0.routes.keys) } }

    public func signal(_ message: MSIMessage) throws(InterruptError) {
        let route = try state.withLock { (s: inout State) throws(InterruptError) -> MSIRoute in
            s.clock += 1
            s.lastUse[message] = s.clock
            if let r = s.routes[message] { return r }
            if s.routes.count >= capacity, let oldest = s.lastUse.filter({ s.routes[$0.key] != nil }).min(by: { $0.value < $1.value })?.key {
                // Dropping the route detaches its irqfd and frees its GSI (MSIRoute.deinit).
                s.routes[oldest] = nil
                s.lastUse[oldest] = nil
            }
            do throws(KVMError) {
                let r = try routing.makeMSIRoute(message)
                s.routes[message] = r
                return r
            } catch {
                s.lastUse[message] = nil
                if case .ioctlFailed(_, let e) = error { throw .deliveryFailed(what: "MSI route for \(message): \(error)", errno: e) }
                throw .deliveryFailed(what: "MSI route for \(message): \(error)", errno: 0)
            }
        }
        try route.signal()
    }
}
