import Foundation
import GuestKit
import Synchronization
import Testing

/// Real Linux with a display and input devices, driven from the host over VNC: the graphics
/// kit (Debian's standard kernel with virtio-gpu, virtio-input, evdev) runs ``DisplayProbe``,
/// which draws a line on the framebuffer console and prints the evdev events it reads; the host
/// runs `vncdo` (vncdotool) against the VNC server when the guest says `DISPLAY-READY`.
///
/// - `displayOnSwiftdmKVM`: on `swiftdm run --gpu --input keyboard --input tablet --vnc`
///   (natively where the host's KVM runs Linux, else in the nested-KVM lab with the VNC port
///   forwarded from the host into L1); the host's capture must equal swiftdm's own
///   `--screenshot-on-exit` PNG pixel for pixel.
/// - `qemuReferenceOnTheHost`, `qemuReferenceInTheLab`: the same probe on QEMU's own
///   virtio-gpu, keyboard and tablet (under TCG on the host; on L1's KVM with the forward) —
///   the reference for what the guest side and the host flow show on known-good devices.
/// - `labForwardsAHostPortIntoL1`: the lab plumbing alone (forward, line callback, returned file).
@Suite(.enabled(if: KVMLinuxHost.available, "needs swiftdm, the guest kit, and a native KVM or QEMU (see the SKIP line)"), .serialized)
struct DisplayOnKVMTests {
    static let width = 1024, height = 768

    @Test func displayOnSwiftdmKVM() throws {
        let graphics = try DisplayTestHost.graphicsKit()
        let vncdo = try DisplayTestHost.requireVNCDo()
        let swiftdm = try LinuxGuestHost.requireSwiftdm()
        let dir = try LinuxGuestHost.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let console = ConsoleWatch()
        let hostCapture = dir + "/host.png"
        let screenshotName = "screen.png"

        var guest = SwiftdmRunGuest(swiftdm: swiftdm, kit: graphics,
                                    command: DisplayProbe.command(banner: "swiftdm", timeoutSeconds: 240),
                                    cpus: 1, memory: "512M")
        guest.extraKernelArguments = DisplayProbe.kernelArguments
        func options(vnc: String, screenshot: String) -> [String] {
            ["--gpu", "width=\(Self.width),height=\(Self.height)", "--input", "keyboard", "--input", "tablet",
             "--vnc", vnc, "--screenshot-on-exit", screenshot]
        }

        let probeConsole: String
        let screenshot: Data?
        let driver: VNCDriver
        let place: String
        if HostVirtualization.runsUnmodifiedGuestsNatively {
            place = "host KVM"
            let port = try HostTCPPort.free(in: 5900...5999)
            guest.extraArguments = options(vnc: "127.0.0.1:\(port - 5900)", screenshot: dir + "/" + screenshotName)
            driver = VNCDriver(vncdo: vncdo, port: port, capture: hostCapture, console: console)
            let process = try guest.start { chunk in
                LinuxGuestHost.echo?(chunk)
                console.feed(chunk)
            }
            driver.start()
            let finished = process.waitForExit(timeout: .seconds(300))
            if !finished { process.kill() }
            console.close()
            try #require(finished && process.exitStatus == 0, "swiftdm run status \(String(describing: process.exitStatus)):\n\(process.output.suffix(3000))")
            probeConsole = process.output
            screenshot = FileManager.default.contents(atPath: dir + "/" + screenshotName)
        } else {
            place = "nested-KVM lab"
            let kit = try LinuxGuestHost.requireKit()
            let lab = try NestedKVMLab(kit: kit, swiftdm: swiftdm, workDirectory: dir, graphicsKit: graphics,
                                       forwardingTCPToL1Port: 5900) { print("lab: \($0)") }
            guard let forward = lab.forward else { throw LinuxGuestHost.SkipReason("the lab made no forward") }
            guest.extraArguments = options(vnc: "0.0.0.0:0", screenshot: LabPaths.file(screenshotName))
            let scenario = NestedKVMScenario.guest(name: "display", guest, returning: [LabPaths.file(screenshotName)],
                                                   timeout: .seconds(300))
            driver = VNCDriver(vncdo: vncdo, port: forward.hostPort, capture: hostCapture, console: console)
            driver.start()
            let run: NestedKVMLabRun
            do {
                defer { console.close() }
                run = try lab.run([scenario], echo: LinuxGuestHost.echo) { console.feed($0 + "\n") }
            }
            let result = try #require(run["display"], "the lab did not run the scenario:\n\(run.console.suffix(3000))")
            #expect(run.networkInterface != nil, "L1 configured the forward's NIC")
            try #require(result.status == 0, "swiftdm run status \(String(describing: result.status)) in L1:\n\(result.output.suffix(3000))")
            probeConsole = result.output
            screenshot = result.files[LabPaths.file(screenshotName)]
            print("BENCH: display on swiftdm (nested-KVM lab): scenario \(result.seconds.map { String(format: "%.1f", $0) } ?? "?") s, "
                  + String(format: "L1 run %.1f s wall", run.wallSeconds))
        }
        let failures = driver.wait(timeout: .seconds(60))
        #expect(failures.isEmpty, "VNC client (\(place)): \(failures)")

        let guestRun = GuestRun(console: probeConsole, wallSeconds: 0)
        #expect(guestRun.exitStatus == 0, "the probe ended with status \(String(describing: guestRun.exitStatus)):\n\(probeConsole.suffix(3000))")
        let report = DisplayProbeReport(console: probeConsole)
        DisplayTestHost.expectProbeSawTheVNCInput(report, console: probeConsole, place: place)

        // What the host saw over VNC is what swiftdm drew: its screenshot at exit, pixel for pixel
        // (the screen is idle by then: no cursor, and nothing echoes the keys on the console).
        let screen = try #require(screenshot, "swiftdm wrote no --screenshot-on-exit PNG (\(place))")
        let screenPath = dir + "/swiftdm-screen.png"
        #expect(FileManager.default.createFile(atPath: screenPath, contents: screen))
        let comparison = try PNGComparison(hostCapture, screenPath)
        #expect(comparison.firstSize == "\(Self.width)x\(Self.height)" && comparison.secondSize == comparison.firstSize,
                "VNC capture \(comparison.firstSize), swiftdm's screenshot \(comparison.secondSize)")
        #expect(comparison.differingPixels == 0, "\(comparison.differingPixels) pixels differ between the VNC capture and swiftdm's screenshot")
        #expect(comparison.distinctColours > 1, "the screen shows the console line, not one colour")
    }

    /// QEMU's virtio-gpu, keyboard and tablet under `-vnc`, with the same probe and client: the
    /// guest side (modules, fb0, events) and the host flow on devices known to work. Two captures
    /// around the input must match (no cursor, no echo), the premise of the swiftdm comparison.
    @Test func qemuReferenceOnTheHost() throws {
        let graphics = try DisplayTestHost.graphicsKit()
        let vncdo = try DisplayTestHost.requireVNCDo()
        let dir = try LinuxGuestHost.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = try HostTCPPort.free(in: 5900...5999)
        var qemu = QemuGuest(kit: graphics, devices: [.gpu(width: Self.width, height: Self.height), .keyboard, .tablet],
                             command: DisplayProbe.command(banner: "qemu reference", timeoutSeconds: 120),
                             memoryMiB: 512, cpus: 1, extraKernelArguments: DisplayProbe.kernelArguments)
        qemu.vnc = "127.0.0.1:\(port - 5900)"
        let console = ConsoleWatch()
        let driver = VNCDriver(vncdo: vncdo, port: port, capture: dir + "/before.png", console: console,
                               secondCapture: dir + "/after.png")
        let started = ContinuousClock.now
        let process = try qemu.start { chunk in
            LinuxGuestHost.echo?(chunk)
            console.feed(chunk)
        }
        driver.start()
        let finished = process.waitForExit(timeout: .seconds(240))
        if !finished { process.kill() }
        console.close()
        let wall = ContinuousClock.now - started
        let failures = driver.wait(timeout: .seconds(30))
        #expect(finished && process.exitStatus == 0, "QEMU status \(String(describing: process.exitStatus)):\n\(process.output.suffix(3000))")
        #expect(failures.isEmpty, "VNC client: \(failures)")
        let run = GuestRun(console: process.output, wallSeconds: inSeconds(wall), hostStatus: process.exitStatus)
        #expect(run.exitStatus == 0, "\(run.console.suffix(3000))")
        let report = DisplayProbeReport(console: process.output)
        DisplayTestHost.expectProbeSawTheVNCInput(report, console: process.output, place: "QEMU")
        #expect(report.inputs.contains { $0.role == "kbd" && $0.name == "QEMU Virtio Keyboard" }, "\(report.inputs)")
        #expect(report.inputs.contains { $0.role == "tablet" && $0.name == "QEMU Virtio Tablet" }, "\(report.inputs)")

        let comparison = try PNGComparison(dir + "/before.png", dir + "/after.png")
        #expect(comparison.firstSize == "\(Self.width)x\(Self.height)" && comparison.secondSize == comparison.firstSize)
        #expect(comparison.differingPixels == 0, "the idle screen changed between captures: \(comparison.differingPixels) pixels")
        #expect(comparison.distinctColours > 1, "the screen shows the console line, not one colour")
        print("BENCH: display probe on QEMU (\(qemu.accelerator)): ready at \(run.readyUptime.map { "\($0)" } ?? "?") s guest uptime, "
              + "DISPLAY-READY after \(driver.readyAfter.map { String(format: "%.1f", $0) } ?? "?") s, "
              + String(format: "%.1f s wall", run.wallSeconds))
    }

    /// swiftdm's virtio-input over vhost-user to QEMU's `vhost-user-input-pci` (which needs KVM,
    /// so QEMU runs in the nested-KVM lab's L1): `swiftdm vhost-user --input keyboard --vnc
    /// 0.0.0.0:0` in L1, its VNC port forwarded to the host, where `vncdo` types; QEMU gives the
    /// guest its own virtio-gpu (the framebuffer) and tablet. Linux's virtio_input driver reports
    /// the keys.
    @Test func keyboardOverVhostUser() throws {
        let graphics = try DisplayTestHost.graphicsKit()
        let vncdo = try DisplayTestHost.requireVNCDo()
        let dir = try LinuxGuestHost.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lab = try NestedKVMLab(kit: try LinuxGuestHost.requireKit(), swiftdm: try LinuxGuestHost.requireSwiftdm(), workDirectory: dir,
                                   carryingQEMU: true, graphicsKit: graphics, forwardingTCPToL1Port: 5900) { print("lab: \($0)") }
        let forward = try #require(lab.forward)
        let socket = "/tmp/keyboard.sock"
        let qemu = Self.labQEMU(banner: "vhost-user keyboard", devices: [
            "-object", "memory-backend-memfd,id=mem,size=512M,share=on", "-numa", "node,memdev=mem",
            "-device", "virtio-gpu-pci,xres=\(Self.width),yres=\(Self.height)",
            "-chardev", "socket,id=kbd,path=\(socket)", "-device", "vhost-user-input-pci,chardev=kbd", "-device", "virtio-tablet-pci",
        ])
        var scenario = NestedKVMScenario(name: "vhost-user-keyboard", commandLine: qemu, timeout: .seconds(300))
        scenario.preparation = "\(LabPaths.swiftdm) vhost-user --socket \(socket) --input keyboard --vnc 0.0.0.0:0 > /tmp/backend.log 2>&1 &"
            + " backend=$!; while [ ! -S \(socket) ]; do usleep 100000; done"
        scenario.afterwards = "kill $backend; wait $backend; echo \"backend-status=$?\"; cat /tmp/backend.log"
        let console = ConsoleWatch()
        let typed = Mutex<[String]>([])
        Thread.detachNewThread {
            guard console.wait(for: DisplayProbe.readyMarker, timeout: .seconds(600)) else { return }
            for actions in [["key", "a"], ["type", "hi"], ["key", "esc"]] {
                do { try HostCommand.run(["timeout", "60", vncdo, "-s", "127.0.0.1::\(forward.hostPort)"] + actions) } catch {
                    typed.withLock { $0.append("vncdo \(actions.joined(separator: " ")): \(error)") }
                }
            }
        }
        let run: NestedKVMLabRun
        do {
            defer { console.close() }
            run = try lab.run([scenario], echo: LinuxGuestHost.echo) { console.feed($0 + "\n") }
        }
        let result = try #require(run["vhost-user-keyboard"], "\(run.console.suffix(3000))")
        try #require(result.status == 0, "QEMU in L1 exited \(String(describing: result.status)):\n\(result.output.suffix(3000))")
        #expect(typed.withLock { $0 }.isEmpty, "\(typed.withLock { $0 })")
        let report = DisplayProbeReport(console: result.output)
        #expect(report.ready && report.ending == "stop-key", "\(result.output.suffix(3000))")
        #expect(report.inputs.contains { $0.role == "kbd" && $0.name == "swiftdm virtio keyboard" }, "\(report.inputs)")
        let keys = report.keys.map { "\($0.code):\($0.value)" }
        #expect(keys == ["30:1", "30:0", "35:1", "35:0", "23:1", "23:0", "1:1", "1:0"], "keyboard events over vhost-user: \(keys)")
        // SIGTERM after QEMU left: the backend exits 0 (and removes its socket).
        #expect(result.reported("backend-status") == "0", "\(result.output.suffix(2000))")
    }

    /// The lab's whole display flow with QEMU in L1 (on L1's KVM, with its own virtio-gpu,
    /// keyboard and tablet, `-vnc 0.0.0.0:0`) in swiftdm's place: the forward, the line callback
    /// and the client as `displayOnSwiftdmKVM` uses them, on devices known to work.
    @Test func qemuReferenceInTheLab() throws {
        let graphics = try DisplayTestHost.graphicsKit()
        let vncdo = try DisplayTestHost.requireVNCDo()
        let dir = try LinuxGuestHost.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lab = try NestedKVMLab(kit: try LinuxGuestHost.requireKit(), swiftdm: try LinuxGuestHost.requireSwiftdm(), workDirectory: dir,
                                   carryingQEMU: true, graphicsKit: graphics, forwardingTCPToL1Port: 5900) { print("lab: \($0)") }
        let forward = try #require(lab.forward)
        let qemu = Self.labQEMU(banner: "qemu in the lab", devices: [
            "-device", "virtio-gpu-pci,xres=\(Self.width),yres=\(Self.height)", "-device", "virtio-keyboard-pci",
            "-device", "virtio-tablet-pci", "-vnc", "0.0.0.0:0",
        ])
        let console = ConsoleWatch()
        let driver = VNCDriver(vncdo: vncdo, port: forward.hostPort, capture: dir + "/before.png", console: console,
                               secondCapture: dir + "/after.png")
        driver.start()
        let run: NestedKVMLabRun
        do {
            defer { console.close() }
            run = try lab.run([NestedKVMScenario(name: "qemu-display", commandLine: qemu, timeout: .seconds(300))],
                              echo: LinuxGuestHost.echo) { console.feed($0 + "\n") }
        }
        let failures = driver.wait(timeout: .seconds(60))
        let result = try #require(run["qemu-display"], "\(run.console.suffix(3000))")
        try #require(result.status == 0, "QEMU in L1 exited \(String(describing: result.status)):\n\(result.output.suffix(3000))")
        #expect(failures.isEmpty, "VNC client: \(failures)")
        DisplayTestHost.expectProbeSawTheVNCInput(DisplayProbeReport(console: result.output), console: result.output, place: "QEMU in the lab")
        let comparison = try PNGComparison(dir + "/before.png", dir + "/after.png")
        #expect(comparison.firstSize == "\(Self.width)x\(Self.height)" && comparison.secondSize == comparison.firstSize)
        #expect(comparison.differingPixels == 0, "the idle screen changed between captures: \(comparison.differingPixels) pixels")
        #expect(comparison.distinctColours > 1, "the screen shows the console line, not one colour")
        print("BENCH: display probe on QEMU in the nested-KVM lab: DISPLAY-READY after \(driver.readyAfter.map { String(format: "%.1f", $0) } ?? "?") s, "
              + "scenario \(result.seconds.map { String(format: "%.1f", $0) } ?? "?") s, " + String(format: "L1 run %.1f s wall", run.wallSeconds))
    }

    /// QEMU in L1 on L1's KVM booting the graphics kit with the display probe (`banner` on its
    /// console line), plus `devices` (its display, input and memory arguments).
    static func labQEMU(banner: String, devices: [String]) -> [String] {
        let append = ["console=ttyS0", "quiet", "panic=-1"] + DisplayProbe.kernelArguments
            + [GuestInit.commandArgument(DisplayProbe.command(banner: banner, timeoutSeconds: 200))]
        let kit = LabPaths.l2GraphicsKitDirectory
        return [LabPaths.qemu, "-accel", "kvm", "-cpu", "host", "-M", "q35", "-nodefaults", "-no-user-config",
                "-display", "none", "-serial", "stdio", "-no-reboot", "-m", "512", "-smp", "1",
                "-kernel", kit + "/vmlinuz", "-initrd", kit + "/initrd.img", "-append", append.joined(separator: " ")] + devices
    }

    /// The lab's plumbing without a display: a host port forwarded to busybox `nc -l` in L1, the
    /// host acting on a console line while the scenario runs, and the file L1 wrote returned.
    @Test func labForwardsAHostPortIntoL1() throws {
        let kit = try LinuxGuestHost.requireKit()
        let dir = try LinuxGuestHost.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lab = try NestedKVMLab(kit: kit, swiftdm: try LinuxGuestHost.requireSwiftdm(), workDirectory: dir,
                                   forwardingTCPToL1Port: 7000) { print("lab: \($0)") }
        let forward = try #require(lab.forward)
        let received = LabPaths.file("received.txt")
        // nc ends when its input does: once the host's line has arrived.
        let l1 = "(echo l1-greeting; while [ ! -s \(received) ]; do usleep 100000; done; usleep 300000) | nc -l -p 7000 > \(received)"
        let scenario = NestedKVMScenario(name: "forward", commandLine: ["sh", "-c", l1], afterwards: "echo \"received=$(cat \(received))\"",
                                         timeout: .seconds(120))
        var withFile = scenario
        withFile.returnedFiles = [received]
        let exchange = Mutex<String?>(nil)
        let done = DispatchSemaphore(value: 0)
        let run = try lab.run([withFile], echo: LinuxGuestHost.echo) { line in
            guard line == "LAB-BEGIN forward" else { return }
            Thread.detachNewThread {
                exchange.withLock { $0 = (try? DisplayTestHost.python(DisplayTestHost.forwardClient, [String(forward.hostPort)])) ?? "client failed" }
                done.signal()
            }
        }
        _ = done.wait(timeout: .now() + 30)
        let result = try #require(run["forward"], "\(run.console.suffix(3000))")
        #expect(run.networkInterface == "eth0", "\(run.console.suffix(2000))")
        #expect(exchange.withLock { $0 }?.contains("greeting=l1-greeting") == true, "host side: \(String(describing: exchange.withLock { $0 }))")
        #expect(result.status == 0, "\(result.output)")
        #expect(result.reported("received") == "host-says-hello", "\(result.output)")
        #expect(result.files[received].map { String(decoding: $0, as: UTF8.self) } == "host-says-hello\n", "\(result.files)")
        print(String(format: "BENCH: lab forward 127.0.0.1:%d → L1:7000: L1 run %.1f s wall", forward.hostPort, run.wallSeconds))
    }
}

/// What the display tests need besides ``LinuxGuestHost``.
enum DisplayTestHost {
    /// The graphics kit, built once into the shared kit directory.
    static let kit: Result<BuiltGuestKit, Error> = Result {
        try GuestKitBuilder(outputDirectory: BuiltGuestKit.defaultDirectory) { print("guest-kit: \($0)") }.buildGraphics()
    }

    static func graphicsKit() throws -> BuiltGuestKit { try kit.get() }

    /// `vncdo` (pip install vncdotool): required where these tests run, so its absence fails
    /// the test (with how to install it) instead of skipping it.
    static func requireVNCDo() throws -> String {
        guard let vncdo = HostCommand.path(of: "vncdo") else {
            throw MissingTool(description: "vncdo is not installed (pip install vncdotool; pip install --break-system-packages vncdotool where pip refuses)")
        }
        return vncdo
    }

    struct MissingTool: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs `script` with `python3` and returns its standard output.
    static func python(_ script: String, _ arguments: [String]) throws -> String {
        try HostCommand.run(["python3", "-c", script] + arguments)
    }

    /// The host's end of ``DisplayOnKVMTests/labForwardsAHostPortIntoL1()``: connects until L1's
    /// nc greets (user-mode networking accepts at once and closes when nothing listens in L1),
    /// answers, and prints the greeting.
    static let forwardClient = """
        import socket, sys, time
        port = int(sys.argv[1]); deadline = time.time() + 25
        while time.time() < deadline:
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                data = s.recv(100)
                if data.startswith(b"l1-greeting"):
                    s.sendall(b"host-says-hello\\n"); s.shutdown(socket.SHUT_WR)
                    print("greeting=" + data.decode().strip()); sys.exit(0)
                s.close()
            except OSError:
                pass
            time.sleep(0.5)
        print("no greeting"); sys.exit(1)
        """

    /// The probe's report after ``VNCDriver``'s input: the framebuffer, the keys, the tablet.
    static func expectProbeSawTheVNCInput(_ report: DisplayProbeReport, console: String, place: String,
                                          absolute expected: (x: Int, y: Int) = (16383, 16383)) {
        let tail = String(console.suffix(3000))
        #expect(report.framebufferSize?.width == DisplayOnKVMTests.width && report.framebufferSize?.height == DisplayOnKVMTests.height,
                "fb0 (\(place)): \(String(describing: report.framebufferSize)):\n\(tail)")
        #expect(report.ready, "no \(DisplayProbe.readyMarker) (\(place)):\n\(tail)")
        #expect(report.ending == "stop-key", "the probe ended by \(report.ending ?? "nothing") (\(place)):\n\(tail)")
        // `key a`, `type hi`, then the stop key: KEY_A 30, KEY_H 35, KEY_I 23, KEY_ESC 1, each down then up.
        let keys = report.keys.map { "\($0.code):\($0.value)" }
        #expect(keys == ["30:1", "30:0", "35:1", "35:0", "23:1", "23:0", "1:1", "1:0"], "keyboard events (\(place)): \(keys)")
        // `move 512 384`: the middle of the screen, ABS_X (0) and ABS_Y (1) near 32767 / 2.
        let absolute = report.tablet(type: 3)
        let x = absolute.last { $0.code == 0 }?.value, y = absolute.last { $0.code == 1 }?.value
        #expect(x.map { abs($0 - expected.x) <= 32 } == true && y.map { abs($0 - expected.y) <= 32 } == true,
                "tablet position (\(place)): \(absolute)")
        // `click 1`: BTN_LEFT (0x110) down, then up.
        let buttons = report.tablet(type: 1).map { "\($0.code):\($0.value)" }
        #expect(buttons == ["272:1", "272:0"], "tablet buttons (\(place)): \(buttons)")
    }
}

/// The console so far, for a thread waiting on what the guest prints.
final class ConsoleWatch: Sendable {
    private let state = Mutex((text: "", closed: false))

    func feed(_ chunk: String) { state.withLock { $0.text += chunk } }

    /// Marks the console ended (the guest's process exited): waits end.
    func close() { state.withLock { $0.closed = true } }

    /// Waits until the console contains `marker`; false at `timeout` or once it is closed without it.
    func wait(for marker: String, timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let (found, closed) = state.withLock { ($0.text.contains(marker), $0.closed) }
            if found { return true }
            if closed { return false }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return false
    }
}

/// The host's VNC client: on `DISPLAY-READY`, a capture, `key a`, `type hi`, `move 512 384
/// click 1`, (a second capture,) then the probe's stop key, each a `vncdo` run of its own
/// (`timeout 60` around it, so a silent server fails the test instead of hanging it). The keys
/// reach no console: the probe's `/dev/tty1` is closed again, so the screen stays as it was.
final class VNCDriver: Sendable {
    private struct State {
        var failures: [String] = []
        var readyAfter: Double?
    }

    let vncdo: String
    let port: Int
    let capture: String
    let secondCapture: String?
    let console: ConsoleWatch
    private let state = Mutex(State())
    private let done = DispatchSemaphore(value: 0)

    init(vncdo: String, port: Int, capture: String, console: ConsoleWatch, secondCapture: String? = nil) {
        self.vncdo = vncdo
        self.port = port
        self.capture = capture
        self.console = console
        self.secondCapture = secondCapture
    }

    /// Seconds from ``start()`` to `DISPLAY-READY`.
    var readyAfter: Double? { state.withLock { $0.readyAfter } }

    /// Starts the client's thread.
    func start() {
        let started = ContinuousClock.now
        Thread.detachNewThread { [self] in
            defer { done.signal() }
            guard console.wait(for: DisplayProbe.readyMarker, timeout: .seconds(600)) else {
                fail("the guest never printed \(DisplayProbe.readyMarker)")
                return
            }
            state.withLock { $0.readyAfter = inSeconds(ContinuousClock.now - started) }
            guard vnc(["capture", capture]), vnc(["key", "a"]), vnc(["type", "hi"]), vnc(["move", "512", "384", "click", "1"]) else { return }
            // The tablet's events come from a reader of their own in the guest: let it print the
            // click before the stop key ends the probe.
            if !console.wait(for: "ev tablet type=1 code=272 value=0", timeout: .seconds(60)) { fail("the guest did not report the click") }
            if let secondCapture, !vnc(["capture", secondCapture]) { return }
            _ = vnc(["key", "esc"])
        }
    }

    /// Waits for the client's thread and returns what went wrong.
    func wait(timeout: Duration) -> [String] {
        let seconds = Double(timeout.components.seconds)
        if done.wait(timeout: .now() + seconds) == .timedOut { fail("the VNC client did not finish in \(seconds) s") }
        return state.withLock { $0.failures }
    }

    private func vnc(_ actions: [String]) -> Bool {
        do {
            // --nocursor: a pointer the server sends as a cursor shape stays out of the capture,
            // which must show the guest's screen as swiftdm's screenshot does.
            try HostCommand.run(["timeout", "60", vncdo, "--nocursor", "-s", "127.0.0.1::\(port)"] + actions)
            return true
        } catch {
            fail("vncdo \(actions.joined(separator: " ")): \(error)")
            return false
        }
    }

    private func fail(_ message: String) { state.withLock { $0.failures.append(message) } }
}

/// Two PNG files decoded to RGB (python3: Pillow when present, else a zlib decoder of 8-bit
/// non-interlaced PNGs) and compared pixel by pixel.
struct PNGComparison {
    let firstSize: String
    let secondSize: String
    /// Pixels whose RGB differ; every pixel when the sizes differ.
    let differingPixels: Int
    /// Distinct colours in the first image (a blank screen has one).
    let distinctColours: Int

    init(_ first: String, _ second: String) throws {
        let out = try DisplayTestHost.python(Self.script, [first, second])
        var values: [String: String] = [:]
        for field in out.split(whereSeparator: \.isWhitespace) {
            let kv = field.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { values[String(kv[0])] = String(kv[1]) }
        }
        firstSize = values["first"] ?? "?"
        secondSize = values["second"] ?? "?"
        differingPixels = values["differing"].flatMap { Int($0) } ?? Int.max
        distinctColours = values["colours"].flatMap { Int($0) } ?? 0
    }

    static let script = """
        import sys, zlib, struct
        def rgb(path):
            try:
                from PIL import Image
                im = Image.open(path).convert("RGB")
                return im.size[0], im.size[1], im.tobytes()
            except ImportError:
                pass
            data = open(path, "rb").read()
            if data[:8] != b"\\x89PNG\\r\\n\\x1a\\n": sys.exit(path + ": not a PNG")
            pos, idat, plte = 8, b"", b""
            while pos < len(data):
                n, kind = struct.unpack(">I4s", data[pos:pos + 8]); body = data[pos + 8:pos + 8 + n]; pos += 12 + n
                if kind == b"IHDR": w, h, depth, ctype, _, _, lace = struct.unpack(">IIBBBBB", body)
                elif kind == b"IDAT": idat += body
                elif kind == b"PLTE": plte = body
                elif kind == b"IEND": break
            if depth != 8 or lace != 0 or ctype not in (0, 2, 3, 4, 6): sys.exit(path + ": unsupported PNG")
            bpp = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ctype]
            raw, stride, prev, rows, i = zlib.decompress(idat), w * bpp, bytearray(w * bpp), [], 0
            for y in range(h):
                f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride]); i += 1 + stride
                for x in range(stride if f else 0):
                    a = line[x - bpp] if x >= bpp else 0; b = prev[x]; c = prev[x - bpp] if x >= bpp else 0
                    if f == 1: line[x] = (line[x] + a) & 255
                    elif f == 2: line[x] = (line[x] + b) & 255
                    elif f == 3: line[x] = (line[x] + ((a + b) >> 1)) & 255
                    else:
                        p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                        line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
                rows.append(bytes(line)); prev = line
            out = bytearray()
            for line in rows:
                for x in range(w):
                    px = line[x * bpp:(x + 1) * bpp]
                    if ctype in (0, 4): out += bytes((px[0],) * 3)
                    elif ctype == 3: out += plte[px[0] * 3:px[0] * 3 + 3]
                    else: out += px[:3]
            return w, h, bytes(out)
        w1, h1, a = rgb(sys.argv[1]); w2, h2, b = rgb(sys.argv[2])
        if (w1, h1) != (w2, h2): differing = max(w1 * h1, w2 * h2)
        else: differing = sum(1 for k in range(0, len(a), 3) if a[k:k + 3] != b[k:k + 3])
        colours = len(set(a[k:k + 3] for k in range(0, len(a), 3)))
        print(f"first={w1}x{h1} second={w2}x{h2} differing={differing} colours={colours}")
        """
}

/// `duration` in seconds, with its fraction.
private func inSeconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// The parsing the display tests rely on, without a guest.
@Suite("display probe and lab file parsing")
struct DisplayProbeParsingTests {
    @Test("the probe's lines: framebuffer, inputs, events, markers; serial carriage returns ignored")
    func probeReport() {
        let console = """
            SWIFTDM-READY uptime=3.7\r
            fb0=1024x768\r
            input event0 role=other name="AT Translated Set 2 keyboard"\r
            input event1 role=kbd name="QEMU Virtio Keyboard"\r
            DISPLAY-READY\r
            ev kbd type=1 code=30 value=1\r
            ev tablet type=3 code=0 value=16383\r
            ev tablet type=1 code=272 value=0\r
            ev kbd type=1 code=30 value=0\r
            DISPLAY-DONE stop-key\r

            """
        let report = DisplayProbeReport(console: console)
        #expect(report.framebufferSize?.width == 1024 && report.framebufferSize?.height == 768)
        #expect(report.inputs.map(\.role) == ["other", "kbd"])
        #expect(report.inputs.last?.name == "QEMU Virtio Keyboard")
        #expect(report.ready)
        #expect(report.ending == "stop-key")
        #expect(report.keys.map { "\($0.code):\($0.value)" } == ["30:1", "30:0"])
        #expect(report.tablet(type: 3) == [.init(device: "tablet", type: 3, code: 0, value: 16383)])
        #expect(report.tablet(type: 1).map(\.code) == [272])
    }

    @Test("a returned file is decoded into its scenario and kept out of its output")
    func returnedFile() {
        let payload = Data((0..<100).map { UInt8($0) })
        let lines = payload.base64EncodedString(options: .lineLength76Characters).split(separator: "\r\n").joined(separator: "\r\n")
        let console = """
            LAB-KVM-READY uptime=5.0\r
            LAB-NET-READY if=eth0\r
            LAB-BEGIN display\r
            guest line\r
            LAB-FILE-BEGIN /lab/files/screen.png\r
            \(lines)\r
            LAB-FILE-END /lab/files/screen.png\r
            LAB-FILE-MISSING /lab/files/other.png\r
            LAB-END display status=0 seconds=30.5\r

            """
        let run = NestedKVMLabRun(console: console, wallSeconds: 40, hostStatus: 0)
        #expect(run.networkInterface == "eth0")
        #expect(run["display"]?.files["/lab/files/screen.png"] == payload)
        #expect(run["display"]?.files["/lab/files/other.png"] == nil)
        #expect(run["display"]?.output.contains("LAB-FILE-BEGIN") == false)
        #expect(run["display"]?.output.contains(String(lines.prefix(20))) == false)
        #expect(run["display"]?.status == 0)
    }

    @Test("the probe's command line stays short (the kernel's command line holds 2 KiB)")
    func shortCommand() {
        let command = DisplayProbe.command(banner: "it's swiftdm")
        #expect(command.hasPrefix(DisplayProbe.path + " 1 120 60 "))
        #expect(command.hasSuffix("'swiftdm display probe: it'\\''s swiftdm'"))
        #expect(GuestInit.commandArgument(command).utf8.count < 200)
    }
}
