import DeviceModel
import DeviceModelTesting
import FuzzSupport
import Virtio
import VirtioDevices
import VirtioTesting
#if canImport(Glibc)
import Glibc
#endif

/// Register sequences a hostile guest sends to a virtio transport (virtio-mmio, or
/// virtio-pci's BARs, configuration space and MSI-X table), on a fresh simulated machine
/// with a virtio-rng device per input.
///
/// Invariants beyond "no crash": the identification registers never change (virtio-mmio
/// magic, version and device ID; PCI vendor, device and header type), no access traps or
/// touches memory outside the machine, and whatever state the sequence left, a driver reset
/// brings back a working device that completes a request.
public enum TransportRegisterFuzz {
    public static func run(kinds: [DeviceOnTransport<VirtioEntropyDevice>.Kind]) -> Never {
        FuzzDriver.run { data in
            var input = FuzzInput(data)
            let kind = kinds[Int(input.u8()) % kinds.count]
            guard let device = try? VirtioEntropyDevice(),
                  let f = try? DeviceOnTransport(kind, device: device) else {
                fuzzFailure("cannot set up the device")
            }
            defer { device.service.shutdown() }
            let windows = registerWindows(f)
            let identity = identify(f)
            var operations = 0
            while !input.isExhausted && operations < 64 {
                operations += 1
                let selector = input.u8()
                let size = [1, 2, 4, 8][Int(selector >> 6)]
                let isWrite = selector & 1 != 0
                let value = selector & 2 != 0 ? input.u64() : UInt64(input.u8())
                var request: IORequest
                if kind.isPCI && selector & 0x30 == 0x30 {
                    // Configuration space: everything but the command register and the BARs,
                    // which would move the windows the reset check below uses.
                    let register = Int(input.u16() % 256)
                    guard !(0x04..<0x06).contains(register), !(0x10..<0x28).contains(register) || !isWrite else { continue }
                    let address = UInt64(SimulatedTransportAttachment<VirtioEntropyDevice>.pciSlot) << 35 | UInt64(register)
                    request = isWrite ? .write(.pciConfig, address, size: min(size, 4), value: value)
                                      : .read(.pciConfig, address, size: min(size, 4))
                } else {
                    let (space, base, length) = windows[Int(input.u8()) % windows.count]
                    let offset = UInt64(input.u16()) % length
                    request = isWrite ? .write(space, base + offset, size: size, value: value) : .read(space, base + offset, size: size)
                }
                try? f.machine.dispatcher.dispatch(&request)
                invariant(identify(f) == identity, "identification registers changed")
            }
            // Whatever that left, a reset brings the device back.
            do {
                let q = try f.start(queues: [0])[0]
                try q.submit(writable: [16])
                _ = try f.driver.kick(q)
                var completed = 0
                for _ in 0..<2000 where completed == 0 {
                    completed = try q.takeUsed().count
                    if completed == 0 { usleep(500) }
                }
                invariant(completed == 1, "no completion after a reset")
            } catch {
                fuzzFailure("device unusable after a reset: \(error)")
            }
        }
    }

    /// The guest-visible register windows, leaving out nothing the driver may touch.
    static func registerWindows(_ f: DeviceOnTransport<VirtioEntropyDevice>) -> [(IOSpace, UInt64, UInt64)] {
        if let mmio = f.attachment.mmio {
            return [(.memory, SimulatedTransportAttachment<VirtioEntropyDevice>.mmioBase, mmio.regionLength)]
        }
        guard let t = f.attachment.driverTransport as? VirtioPCITestTransport else { return [] }
        return t.bars.sorted { $0.key < $1.key }.map { (_, b) in (b.space, b.address, b.size) }
    }

    /// Registers that must read the same whatever the guest wrote.
    static func identify(_ f: DeviceOnTransport<VirtioEntropyDevice>) -> [UInt64] {
        var out: [UInt64] = []
        if f.attachment.mmio != nil {
            for offset: UInt64 in [0x000, 0x004, 0x008] {
                var r = IORequest.read(.memory, SimulatedTransportAttachment<VirtioEntropyDevice>.mmioBase + offset, size: 4)
                try? f.machine.dispatcher.dispatch(&r)
                out.append(r.value ?? 0xDEAD)
            }
        } else {
            for register: UInt64 in [0x00, 0x0E, 0x2C] {
                var r = IORequest.read(.pciConfig, UInt64(SimulatedTransportAttachment<VirtioEntropyDevice>.pciSlot) << 35 | register,
                                       size: 4)
                try? f.machine.dispatcher.dispatch(&r)
                out.append(r.value.map { register == 0x0E ? $0 & 0xFF : $0 } ?? 0xDEAD)
            }
        }
        return out
    }
}
