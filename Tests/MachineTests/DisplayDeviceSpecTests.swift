import Machine
import Testing

/// `--gpu`, `--input` and their `--device` names, with QEMU's spellings where QEMU has them.
@Suite struct DisplayDeviceSpecTests {
    @Test func gpuSpellings() throws {
        #expect(try VirtioDeviceSpec.gpu(parsing: "", option: "--gpu") == .gpu(GPUDeviceSpec()))
        #expect(try VirtioDeviceSpec.gpu(parsing: "width=1920,height=1080", option: "--gpu") == .gpu(GPUDeviceSpec(width: 1920, height: 1080)))
        #expect(try VirtioDeviceSpec.device(parsing: "virtio-gpu,xres=800,yres=600,max_outputs=2,edid=off,max_hostmem=64M,transport=mmio")
            == .gpu(GPUDeviceSpec(width: 800, height: 600, scanouts: 2, maxHostMemory: 64 << 20, edid: false, transport: .mmio)))
    }

    @Test(arguments: [
        ("width=0", "--gpu width '0': expected 1 to 16384 pixels"),
        ("height=16385", "--gpu height '16385': expected 1 to 16384 pixels"),
        ("scanouts=17", "--gpu scanouts '17': expected 1 to 16"),
        ("max_hostmem=lots", "--gpu max_hostmem 'lots': expected a size such as 256M"),
        ("virgl=on", "--gpu 'virgl=on': unknown gpu option 'virgl' (width, height, scanouts, max_hostmem, edid, transport)"),
    ])
    func gpuRefusals(text: String, message: String) {
        do {
            _ = try VirtioDeviceSpec.gpu(parsing: text, option: "--gpu")
            Issue.record("\(text) was accepted")
        } catch {
            #expect(error.description == message)
        }
    }

    @Test func inputSpellings() throws {
        #expect(try VirtioDeviceSpec.input(parsing: "keyboard", option: "--input") == .input(InputDeviceSpec(kind: .keyboard)))
        #expect(try VirtioDeviceSpec.input(parsing: "tablet,transport=mmio", option: "--input") == .input(InputDeviceSpec(kind: .tablet, transport: .mmio)))
        #expect(try VirtioDeviceSpec.device(parsing: "virtio-mouse") == .input(InputDeviceSpec(kind: .mouse)))
        #expect(throws: DeviceSpecError.self) { try VirtioDeviceSpec.input(parsing: "joystick", option: "--input") }
        #expect(throws: DeviceSpecError.self) { try VirtioDeviceSpec.input(parsing: "keyboard,layout=de", option: "--input") }
    }

    @Test func oneGPUPerMachineAndTheDisplaySize() throws {
        var config = PCConfiguration(boot: .firmware(path: "/dev/null"))
        config.devices = [.gpu(GPUDeviceSpec(scanouts: 3)), .input(InputDeviceSpec(kind: .keyboard))]
        #expect(config.scanoutCount == 3)
        config.devices = [.input(InputDeviceSpec(kind: .tablet))]
        #expect(config.scanoutCount == 1)
        config.devices = [.gpu(GPUDeviceSpec()), .gpu(GPUDeviceSpec())]
        #expect(throws: MachineError.self) { try config.validate() }
    }
}
