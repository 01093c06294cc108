import Foundation
import HostIO
import Machine
import Testing
import VirtioDevices

/// `aio=` and `cache=` on a disk, in QEMU's spellings, through the one parser `swiftdm run
/// --disk`, `swiftdm vhost-user --blk` and `--device virtio-blk` share.
@Suite struct BlockEngineOptionTests {
    @Test func engineAndCacheSpellings() throws {
        #expect(try VirtioDeviceSpec.block(parsing: "/img", option: "--disk")
            == .block(BlockDeviceSpec(path: "/img", aio: nil, cache: .writeback)))
        for (text, aio) in [("aio=io_uring", BlockIOEngine.ioUring), ("aio=threads", .threads), ("aio=inline", .inline)] {
            #expect(try VirtioDeviceSpec.block(parsing: "/img,\(text)", option: "--blk") == .block(BlockDeviceSpec(path: "/img", aio: aio)))
        }
        for (text, cache) in [("cache=none", BlockCacheMode.none), ("cache=writeback", .writeback)] {
            #expect(try VirtioDeviceSpec.block(parsing: "/img,\(text)", option: "--disk") == .block(BlockDeviceSpec(path: "/img", cache: cache)))
        }
        #expect(try VirtioDeviceSpec.block(parsing: "/img,poll-max-ns=32768", option: "--blk")
            == .block(BlockDeviceSpec(path: "/img", pollMaxNanoseconds: 32768)))
        // Together with the older options, in any order, and through --device.
        #expect(try VirtioDeviceSpec.block(parsing: "/img,cache=none,readonly=on,aio=threads,serial=d0", option: "--disk")
            == .block(BlockDeviceSpec(path: "/img", readOnly: true, serial: "d0", aio: .threads, cache: .none)))
        #expect(try VirtioDeviceSpec.device(parsing: "virtio-blk,file=/img,aio=io_uring,cache=none", option: "--device")
            == .block(BlockDeviceSpec(path: "/img", aio: .ioUring, cache: .none)))
        // Multiqueue: QEMU's num-queues, and the I/O threads serving them.
        #expect(try VirtioDeviceSpec.block(parsing: "/img,num-queues=4,iothreads=2", option: "--blk")
            == .block(BlockDeviceSpec(path: "/img", queues: 4, queueThreads: 2)))
        #expect(try VirtioDeviceSpec.device(parsing: "virtio-blk,file=/img,num-queues=2", option: "--device")
            == .block(BlockDeviceSpec(path: "/img", queues: 2)))
    }

    @Test func badValuesNameThemselves() {
        let cases: [(String, String, String)] = [
            ("/img,aio=native", "--disk aio", "native"),
            ("/img,aio=IO_URING", "--disk aio", "IO_URING"),
            ("/img,aio=", "--disk aio", ""),
            ("/img,cache=directsync", "--disk cache", "directsync"),
            ("/img,cache=None", "--disk cache", "None"),
            ("/img,poll-max-ns=-1", "--disk poll-max-ns", "-1"),
            ("/img,poll-max-ns=1000001", "--disk poll-max-ns", "1000001"),
            ("/img,poll-max-ns=32us", "--disk poll-max-ns", "32us"),
            ("/img,num-queues=0", "--disk num-queues", "0"),
            ("/img,num-queues=65", "--disk num-queues", "65"),
            ("/img,iothreads=0", "--disk iothreads", "0"),
            ("/img,iothreads=many", "--disk iothreads", "many"),
        ]
        for (text, option, value) in cases {
            let error = #expect(throws: DeviceSpecError.self) { try VirtioDeviceSpec.block(parsing: text, option: "--disk") }
            #expect(error?.option == option, "\(text)")
            #expect(error?.value == value, "\(text)")
            #expect(error?.description.contains("'\(value)'") == true, "\(text)")
        }
        // A bare key is not a value.
        #expect(throws: DeviceSpecError.self) { try VirtioDeviceSpec.block(parsing: "/img,aio", option: "--disk") }
    }

    /// Without `poll-max-ns`, where the disk runs decides: a machine does not poll, a
    /// vhost-user backend polls as QEMU's event loops do; an explicit value (0 too) wins.
    @Test func pollingDefaultsToWhereTheDiskRuns() throws {
        let image = "/tmp/swiftdm-poll-default-\(getpid()).img"
        #expect(FileManager.default.createFile(atPath: image, contents: Data(count: 1 << 20)))
        defer { try? FileManager.default.removeItem(atPath: image) }
        var backend = DeviceBuildContext()
        backend.defaultPolling = DeviceBuildContext.backendProcessPolling
        func pollLimit(_ text: String, _ context: DeviceBuildContext) throws -> Duration? {
            let device = try DeviceCatalogue.makeDevice(try VirtioDeviceSpec.block(parsing: text, option: "--blk"), context: context)
            return (device as? VirtioBlockDevice)?.configuration.pollLimit
        }
        #expect(try pollLimit(image, DeviceBuildContext()) == .zero)
        #expect(try pollLimit(image, backend) == .nanoseconds(65536))
        #expect(try pollLimit("\(image),poll-max-ns=0", backend) == .zero)
        #expect(try pollLimit("\(image),poll-max-ns=5000", DeviceBuildContext()) == .nanoseconds(5000))
    }

    @Test func theDeviceGetsWhatWasParsed() throws {
        guard case .block(let spec) = try VirtioDeviceSpec.block(parsing: "/img,aio=threads,cache=none", option: "--blk") else {
            Issue.record("not a disk")
            return
        }
        #expect(spec.description.contains("aio=threads"))
        #expect(spec.description.contains("cache=none"))
    }
}
