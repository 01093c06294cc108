import Foundation
import KVMGlue
import Machine
import Synchronization
import SwiftdmTestSupport
import Testing

/// The README's embedding example, run: a KVM PC built and run in-process in a few lines.
@Suite(.enabled(if: HostRequirements.guests, "needs /dev/kvm and nasm (see the SKIP lines)"))
struct EmbeddingTests {
    @Test func aKVMPCInAFewLines() throws {
        _ = try GuestImages.image("minikernel")
        let kernel = GuestImages.buildDirectory.appendingPathComponent("minikernel.bin").path
        let serial = Mutex<[UInt8]>([])

        var config = PCConfiguration(boot: .kernel(path: kernel, initrd: nil, commandLine: "console=ttyS0 embedded"))
        config.memory = MemorySize(bytes: 128 << 20)
        config.devices = [.entropy(EntropyDeviceSpec())]
        let machine = try PCMachine(
            configuration: config, accelerator: try KVMAccelerator(), serialOutput: { byte in serial.withLock { $0.append(byte) } })
        let outcome = machine.run()

        #expect(outcome == .stopped(.powerOff))
        let text = serial.withLock { String(decoding: $0, as: UTF8.self) }
        #expect(text.contains("cmdline: console=ttyS0 embedded"), "\(text)")
        // The accelerator's pages are reserved in the kernel's memory map too: 7 entries.
        #expect(text.contains("e820 entries 00000007"), "\(text)")
        // No boot-complete signal from this kernel: setup → vCPUs → power-off.
        #expect(machine.timeline.phases.map(\.name) == ["setup → vcpus started", "vcpus started → guest stopped"])
    }
}
