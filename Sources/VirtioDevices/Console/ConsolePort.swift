import DeviceModel
import HostIO
import Virtio

/// Port 0 of a virtio-console: moves bytes between the guest's receive/transmit queues and
/// the backend's stream, and speaks the control protocol when multiport is negotiated.
///
/// Receive: chains are taken only when the stream has input (the stream's fd is watched on
/// the I/O thread, never polled); with no guest buffers the fd is no longer watched until
/// the driver adds some (back-pressure). Transmit: every byte is written; on `EAGAIN` the
/// chain is parked, the queue paused and the fd watched for writability.
final class ConsolePort: @unchecked Sendable {
    // SAFETY (@unchecked): every method runs on the device's I/O thread (queue handlers,
    // fd watches, backend callbacks, `loop.execute`/`sync` from the device).
    let backend: any ConsoleBackend
    let name: String?
    private(set) var stream: ConsoleStream?

    // One activation's state.
    private var multiport = false
    private var sizeNegotiated = false
    private var interrupts: (any VirtioInterruptSink)?
    var rx: ServedQueue?
    var tx: ServedQueue?
    var controlRx: ServedQueue?
    /// The guest has the port open (always, without multiport).
    private var guestOpen = false
    /// The driver answered DEVICE_ADD with PORT_READY.
    private var ready = false
    private var inputWatch: EventSource?
    /// While input is held back (no guest buffers), a duplex stream is still watched for
    /// hang-up, so a departed socket client frees the port for the next one.
    private var hangupWatch: EventSource?
    /// Separate input descriptor reached end of file (stdin closed); output goes on.
    private var inputEnded = false
    private var outputWatch: EventSource?
    private var parkedRx: VirtqueueRequest?
    private var parkedTx: (request: VirtqueueRequest, offset: Int)?
    private var outbox: [[UInt8]] = []
    /// Bytes the guest transmitted that the backend has not taken yet, outside any chain: the
    /// rest of a chain parked when its state was saved, written first when it is restored.
    private var pendingOutput: [UInt8] = []
    /// True while the port's state is frozen for a save, or waits for a saved one (see
    /// ``VirtioConsoleDevice``'s device state): no transmit or control message is served.
    private var held = false
    /// A driver that never supplies control buffers must not make the device grow.
    static let outboxLimit = 64
    private static let controlReadLimit = 4096
    /// The most transmitted bytes a saved port carries (a parked chain's rest).
    static let pendingOutputLimit = 1 << 20

    init(backend: any ConsoleBackend, name: String?) {
        self.backend = backend
        self.name = name
    }

    // MARK: Activation

    func activate(multiport: Bool, sizeNegotiated: Bool, interrupts: any VirtioInterruptSink, held: Bool) {
        self.multiport = multiport
        self.sizeNegotiated = sizeNegotiated
        self.interrupts = interrupts
        guestOpen = !multiport
        ready = false
        outbox = []
        pendingOutput = []
        self.held = held
    }

    func deactivate() {
        rx = nil
        tx = nil
        controlRx = nil
        interrupts = nil
        cancelWatches()
        parkedRx = nil
        parkedTx = nil
        outbox = []
        pendingOutput = []
        guestOpen = false
        ready = false
        held = false
    }

    /// Stops watching the host end for input, hang-up and room for output.
    private func cancelWatches() {
        inputWatch?.cancel()
        inputWatch = nil
        hangupWatch?.cancel()
        hangupWatch = nil
        outputWatch?.cancel()
        outputWatch = nil
    }

    // MARK: Backend events

    func connected(_ stream: ConsoleStream) {
        self.stream = stream
        inputEnded = false
        armInput()
        if multiport && ready { sendControl(.init(id: 0, event: .portOpen, value: 1)) }
    }

    /// The peer left: stop watching it, drop pending output, tell the guest (multiport)
    /// and let the backend wait for the next peer.
    private func streamEnded() {
        guard let ended = stream else { return }
        stream = nil
        cancelWatches()
        if let (request, _) = parkedTx {
            parkedTx = nil
            request.complete(bytesWritten: 0)
            tx?.resume()
        }
        if multiport && ready { sendControl(.init(id: 0, event: .portOpen, value: 0)) }
        backend.disconnected(ended)
    }

    // MARK: Receive (host → guest)

    func armInput() {
        guard inputWatch == nil, guestOpen, !inputEnded, let stream, let rx, rx.isLive else { return }
        hangupWatch?.cancel()
        hangupWatch = nil
        inputWatch = rx.watch(fd: stream.input, for: [.readable, .hangup, .error]) { [self] _ in inputReady() }
    }

    private func disarmInput() {
        inputWatch?.cancel()
        inputWatch = nil
        if hangupWatch == nil, let stream, stream.isDuplex, let rx, rx.isLive {
            hangupWatch = rx.watch(fd: stream.input, for: [.hangup, .error]) { [self] _ in streamEnded() }
        }
    }

    /// End of file on the input: the peer left (duplex), or only stdin ended.
    private func inputClosed() {
        guard let stream else { return }
        if stream.isDuplex {
            streamEnded()
        } else {
            inputEnded = true
            inputWatch?.cancel()
            inputWatch = nil
        }
    }

    private func inputReady() {
        guard let stream, let rx, guestOpen else { return disarmInput() }
        rx.batch {
            while true {
                let request: VirtqueueRequest
                if let parked = parkedRx {
                    request = parked
                    parkedRx = nil
                } else {
                    guard let fresh = rx.popRequest() else {
                        // No guest buffers: leave the input in the host's buffers until the
                        // driver adds some (its kick re-arms the watch).
                        disarmInput()
                        if rx.enableNotifications() { continue }
                        return
                    }
                    guard fresh.chain.readableLength == 0 else {
                        fresh.fail("console receive buffer is device-readable (§5.3.6.1)")
                        return
                    }
                    request = fresh
                }
                guard request.chain.writableLength > 0 else {
                    request.complete(bytesWritten: 0)
                    continue
                }
                let result: ConsoleStream.Transfer
                do {
                    result = try request.memory.withSlices(of: request.chain.writable) { stream.read(into: $0) }
                } catch {
                    request.fail("console receive buffer: \(error)")
                    return
                }
                switch result {
                case .transferred(let n):
                    request.complete(bytesWritten: n)
                case .wouldBlock:
                    parkedRx = request
                    return
                case .closed:
                    parkedRx = request
                    inputClosed()
                    return
                }
            }
        }
    }

    // MARK: Transmit (guest → host)

    func serveTransmit(_ queue: ServedQueue) {
        guard !held, parkedTx == nil, writePendingOutput() else { return }
        queue.forEachRequest { request throws(VirtioDeviceError) in
            guard request.chain.writableLength == 0 else {
                throw .malformedRequest(queue: queue.index, head: request.head, reason: "console transmit buffer is device-writable (§5.3.6.1)")
            }
            return write(request, from: 0)
        }
    }

    /// Writes `request`'s bytes from `offset` on; parks it on `EAGAIN`.
    private func write(_ request: VirtqueueRequest, from offset: Int) -> QueueFlow {
        var offset = offset
        while true {
            guard let stream else {
                // Nobody is listening: output is discarded, as on an unplugged serial line.
                request.complete(bytesWritten: 0)
                return .proceed
            }
            let rest = Self.dropping(offset, from: request.chain.readable)
            if rest.isEmpty {
                request.complete(bytesWritten: 0)
                return .proceed
            }
            let result: ConsoleStream.Transfer
            do {
                result = try request.memory.withSlices(of: rest) { stream.write($0.map { UnsafeRawBufferPointer($0) }) }
            } catch {
                request.fail("console transmit buffer: \(error)")
                return .proceed
            }
            switch result {
            case .transferred(let n):
                offset += n
            case .wouldBlock:
                parkedTx = (request, offset)
                if outputWatch == nil, let tx {
                    outputWatch = tx.watch(fd: stream.output, for: [.writable, .hangup, .error]) { [self] _ in outputReady() }
                }
                return .pause
            case .closed:
                request.complete(bytesWritten: 0)
                streamEnded()
                return .proceed
            }
        }
    }

    private func outputReady() {
        outputWatch?.cancel()
        outputWatch = nil
        // Held for a save: the parked chain's rest is in the record; the reset returns it.
        guard !held else { return }
        guard let (request, offset) = parkedTx else {
            if writePendingOutput() { tx?.resume() }
            return
        }
        parkedTx = nil
        if write(request, from: offset) == .proceed { tx?.resume() }
    }

    /// Writes ``pendingOutput`` to the stream (dropped without one, as any output is); true
    /// once it is all gone, false when the stream is full (output is watched then).
    private func writePendingOutput() -> Bool {
        while !pendingOutput.isEmpty {
            guard let stream else {
                pendingOutput = []
                return true
            }
            let result = pendingOutput.withUnsafeBytes { stream.write([$0]) }
            switch result {
            case .transferred(let n):
                pendingOutput.removeFirst(min(n, pendingOutput.count))
            case .wouldBlock:
                if outputWatch == nil, let tx {
                    outputWatch = tx.watch(fd: stream.output, for: [.writable, .hangup, .error]) { [self] _ in outputReady() }
                }
                return false
            case .closed:
                pendingOutput = []
                streamEnded()
                return true
            }
        }
        return true
    }

    static func dropping(_ count: Int, from buffers: [GuestBuffer]) -> [GuestBuffer] {
        var skip = count
        var out: [GuestBuffer] = []
        for b in buffers {
            if skip >= Int(b.length) {
                skip -= Int(b.length)
                continue
            }
            out.append(GuestBuffer(address: b.address + UInt64(skip), length: b.length - UInt32(skip)))
            skip = 0
        }
        return out
    }

    /// `emerg_wr`: one byte, best effort, even before the driver is ready (§5.3.5.1).
    func emergencyWrite(_ byte: UInt8) {
        guard let stream else { return }
        var b = byte
        _ = withUnsafeBytes(of: &b) { stream.write([$0]) }
    }

    // MARK: Control queues (multiport, §5.3.6.2)

    func sendControl(_ message: ConsoleControlMessage) {
        guard controlRx != nil || multiport else { return }
        guard outbox.count < Self.outboxLimit else { return }
        outbox.append(message.bytes)
        flushControl()
    }

    func flushControl() {
        guard !held, let queue = controlRx else { return }
        queue.batch {
            while let message = outbox.first, let request = queue.popRequest() {
                guard request.chain.readableLength == 0 else {
                    request.fail("control receive buffer is device-readable")
                    return
                }
                outbox.removeFirst()
                var writer = request.makeWriter()
                let n = min(message.count, writer.remaining)
                do { try writer.write(Array(message.prefix(n))) } catch {
                    request.fail("control receive buffer: \(error)")
                    return
                }
                request.complete(bytesWritten: n)
            }
        }
    }

    func serveControlTransmit(_ queue: ServedQueue) {
        guard !held else { return }
        queue.forEachRequest { request throws(VirtioDeviceError) in
            guard request.chain.writableLength == 0 else {
                throw .malformedRequest(queue: queue.index, head: request.head, reason: "control transmit buffer is device-writable")
            }
            var reader = request.makeReader()
            let bytes = (try? reader.read(count: min(reader.remaining, Self.controlReadLimit))) ?? []
            request.complete(bytesWritten: 0)
            // Short or unknown messages are ignored, as Linux and QEMU do.
            if let message = ConsoleControlMessage(bytes) { handle(message) }
            return .proceed
        }
    }

    var currentSize: () -> ConsoleSize? = { nil }

    private func handle(_ message: ConsoleControlMessage) {
        switch message.event {
        case .deviceReady where message.value == 1:
            sendControl(.init(id: 0, event: .deviceAdd, value: 0))
        case .portReady where message.id == 0 && message.value == 1:
            ready = true
            sendControl(.init(id: 0, event: .consolePort, value: 1))
            if let size = currentSize() { sendControl(.resize(port: 0, size)) }
            if let name { sendControl(.init(id: 0, event: .portName, value: 0, payload: Array(name.utf8))) }
            sendControl(.init(id: 0, event: .portOpen, value: stream == nil ? 0 : 1))
        case .portOpen where message.id == 0:
            guestOpen = message.value != 0
            if guestOpen { armInput() } else { disarmInput() }
        default:
            break
        }
    }

    /// The console size changed: tell the driver the way it negotiated.
    func resized(_ size: ConsoleSize) {
        if multiport {
            if ready { sendControl(.resize(port: 0, size)) }
        } else if sizeNegotiated {
            interrupts?.signalConfigChange()
        }
    }
}

/// Queue handlers: thin forwards to the port, which owns the state.
final class ConsolePortHandler: VirtqueueHandler, @unchecked Sendable {
    // SAFETY (@unchecked): immutable; the port is loop-confined.
    enum Role { case receive, transmit, controlReceive, controlTransmit }
    let port: ConsolePort
    let role: Role
    init(_ port: ConsolePort, _ role: Role) {
        self.port = port
        self.role = role
    }

    func start(_ queue: ServedQueue) {
        switch role {
        case .receive: port.rx = queue
        case .transmit: port.tx = queue
        case .controlReceive: port.controlRx = queue
        case .controlTransmit: break
        }
    }

    func serve(_ queue: ServedQueue) {
        switch role {
        case .receive: port.armInput()
        case .transmit: port.serveTransmit(queue)
        case .controlReceive: port.flushControl()
        case .controlTransmit: port.serveControlTransmit(queue)
        }
    }

    func stop(_ queue: ServedQueue) { port.deactivate() }
}

// MARK: Saved state (the device's I/O thread)

extension ConsolePort {
    /// True between activation and reset.
    var isActive: Bool { interrupts != nil }
    /// The driver negotiated the control queues.
    var isMultiport: Bool { multiport }

    /// What a saved port holds (see ``VirtioConsoleDevice``'s device state).
    struct SavedState: Sendable, Equatable {
        /// The driver started the device (the port has an activation).
        var active = false
        var multiport = false
        var guestOpen = false
        var ready = false
        /// Control messages not yet in a guest buffer, oldest first.
        var outbox: [[UInt8]] = []
        /// Transmitted bytes the backend has not taken.
        var pendingOutput: [UInt8] = []
    }

    /// The port's state for a save, after which it serves no transmit or control message
    /// until its reset: a parked transmit chain's unwritten rest is read into the state (the
    /// reset then returns the chain) rather than written later behind the record's back.
    func holdForSave() -> SavedState {
        held = true
        outputWatch?.cancel()
        outputWatch = nil
        var pending = pendingOutput
        if let (request, offset) = parkedTx {
            var reader = request.makeReader()
            let rest = max(0, reader.remaining - offset)
            if (try? reader.skip(offset)) != nil, let bytes = try? reader.read(count: min(rest, Self.pendingOutputLimit)) {
                pending += bytes
            }
        }
        return SavedState(active: interrupts != nil, multiport: multiport, guestOpen: guestOpen, ready: ready, outbox: outbox,
                          pendingOutput: Array(pending.prefix(Self.pendingOutputLimit)))
    }

    /// Takes `saved` (checked against this port by the device) and stops holding; the device
    /// then serves every queue again (waiting control messages and output go out, input is
    /// watched). The host's open state is announced again: the new process's backend may
    /// differ from the saved one's.
    func load(_ saved: SavedState) {
        guestOpen = saved.guestOpen
        ready = saved.ready
        outbox = saved.outbox
        pendingOutput = saved.pendingOutput
        held = false
        if multiport && ready { sendControl(.init(id: 0, event: .portOpen, value: stream == nil ? 0 : 1)) }
    }
}
