import DeviceModel
import HostIO
import Synchronization
import Virtio

/// virtio-console (virtio 1.2 §5.3; Linux `drivers/char/virtio_console.c`): port 0 as the
/// guest's console (`hvc0`) on a ``ConsoleBackend``, with the console size in the
/// configuration space (`F_SIZE`), emergency writes (`F_EMERG_WRITE`), and with
/// `F_MULTIPORT` the control queues that announce port 0 as a console port.
public final class VirtioConsoleDevice: VirtioDevice {
    public let configuration: VirtioConsoleConfiguration
    public let service: VirtqueueService
    let port: ConsolePort
    private let size: ConsoleSizeCell

    /// Creates the device and starts its backend on the device's I/O thread.
    public init(configuration: VirtioConsoleConfiguration, name: String = "virtio-console") throws(VirtioConsoleError) {
        let q = configuration.queueSize
        guard q > 0, q <= 32768, q & (q - 1) == 0 else {
            throw .invalidConfiguration("queue size \(q) is not a power of two in 1...32768")
        }
        if let n = configuration.portName, n.utf8.count > 255 {
            throw .invalidConfiguration("port name of \(n.utf8.count) bytes is longer than 255")
        }
        self.configuration = configuration
        do { service = try VirtqueueService(name: name) } catch { throw .runtime(error) }
        let port = ConsolePort(backend: configuration.backend, name: configuration.portName)
        let size = ConsoleSizeCell(configuration.size)
        self.port = port
        self.size = size
        let backend = configuration.backend
        let loop = service.loop
        let started = loop.sync { () -> Result<Void, VirtioConsoleError> in
            port.currentSize = { size.value.withLock { $0 } }
            return Result { () throws(VirtioConsoleError) in
                do throws(ConsoleBackendError) {
                    try backend.start(on: loop) { stream in port.connected(stream) }
                } catch {
                    throw .backend(error)
                }
            }
        }
        do { try started.get() } catch {
            service.shutdown()
            throw error
        }
    }

    deinit {
        service.stop()
        let backend = configuration.backend
        service.loop.sync { backend.stop() }
        service.shutdown()
    }

    public var deviceType: VirtioDeviceType { .console }

    public var offeredFeatures: UInt64 {
        var f = VirtioFeature.version1 | VirtioFeature.eventIndex | VirtioFeature.indirectDescriptors
            | VirtioConsoleFeature.emergencyWrite
        if configuration.size != nil { f |= VirtioConsoleFeature.size }
        if configuration.multiport { f |= VirtioConsoleFeature.multiport }
        return f
    }

    /// Port 0's receive/transmit queues, plus the control pair with multiport.
    public var queueMaxSizes: [UInt16] { Array(repeating: configuration.queueSize, count: configuration.multiport ? 4 : 2) }

    /// `struct virtio_console_config`: `cols`, `rows` (the order Linux and QEMU use),
    /// `max_nr_ports` = 1, `emerg_wr` (reads as 0).
    public func readConfig() -> [UInt8] {
        let s = size.value.withLock { $0 } ?? ConsoleSize(columns: 0, rows: 0)
        var out: [UInt8] = []
        withUnsafeBytes(of: s.columns.littleEndian) { out += $0 }
        withUnsafeBytes(of: s.rows.littleEndian) { out += $0 }
        withUnsafeBytes(of: UInt32(1).littleEndian) { out += $0 }
        withUnsafeBytes(of: UInt32(0).littleEndian) { out += $0 }
        return out
    }

    /// Only `emerg_wr` (offset 8) is writable; its low byte goes to the backend.
    public func writeConfig(offset: Int, bytes: [UInt8]) {
        guard offset <= 8, offset + bytes.count > 8 else { return }
        let byte = bytes[8 - offset]
        let port = self.port
        service.loop.execute { port.emergencyWrite(byte) }
    }

    public func activate(_ activation: VirtioActivation) throws(VirtioDeviceError) {
        reset()
        let multiport = activation.has(VirtioConsoleFeature.multiport)
        let port = self.port
        service.loop.sync {
            // A continued device serves nothing before its saved port state is loaded.
            port.activate(multiport: multiport, sizeNegotiated: activation.has(VirtioConsoleFeature.size),
                          interrupts: activation.interrupts, held: activation.continuesSavedState)
        }
        var handlers: [Int: any VirtqueueHandler] = [
            ConsoleQueue.receive: ConsolePortHandler(port, .receive),
            ConsoleQueue.transmit: ConsolePortHandler(port, .transmit),
        ]
        if multiport {
            handlers[ConsoleQueue.controlReceive] = ConsolePortHandler(port, .controlReceive)
            handlers[ConsoleQueue.controlTransmit] = ConsolePortHandler(port, .controlTransmit)
        }
        service.start(activation, handlers: handlers)
    }

    public func reset() {
        service.stop()
        let port = self.port
        service.loop.sync { port.deactivate() }
    }

    /// The console size changed (e.g. the launcher got `SIGWINCH`): updates the
    /// configuration space and notifies the driver (config change, or `RESIZE` with
    /// multiport). Any thread.
    public func resize(_ newSize: ConsoleSize) {
        size.value.withLock { $0 = newSize }
        let port = self.port
        service.loop.execute { port.resized(newSize) }
    }
}

/// The console size, read by vCPU threads (config space) and the I/O thread.
final class ConsoleSizeCell: Sendable {
    let value: Mutex<ConsoleSize?>
    init(_ size: ConsoleSize?) { value = Mutex(size) }
}
