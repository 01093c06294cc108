// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "swiftdm",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "DeviceModel", targets: ["DeviceModel"]),
        .library(name: "Virtio", targets: ["Virtio"]),
        .library(name: "HostIO", targets: ["HostIO"]),
        .library(name: "Display", targets: ["Display"]),
        .library(name: "DisplayOutputs", targets: ["DisplayOutputs"]),
        .library(name: "VirtioDevices", targets: ["VirtioDevices"]),
        .library(name: "KVMGlue", targets: ["KVMGlue"]),
        .library(name: "XenGlue", targets: ["XenGlue"]),
        .library(name: "QMP", targets: ["QMP"]),
        .library(name: "VhostUser", targets: ["VhostUser"]),
        .library(name: "X86Machine", targets: ["X86Machine"]),
        .library(name: "Machine", targets: ["Machine"]),
        .library(name: "DeviceModelTesting", targets: ["DeviceModelTesting"]),
        .library(name: "VirtioTesting", targets: ["VirtioTesting"]),
        .library(name: "GuestKit", targets: ["GuestKit"]),
        .library(name: "StorageBench", targets: ["StorageBench"]),
        .library(name: "MachineBench", targets: ["MachineBench"]),
        .executable(name: "swiftdm", targets: ["swiftdm"]),
        .executable(name: "swiftdm-kit", targets: ["swiftdm-kit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // Thin C interop: GLib (event loop), kernel/libc helpers, <linux/kvm.h>, libxen.
        .systemLibrary(name: "CGLib", pkgConfig: "glib-2.0", providers: [.apt(["libglib2.0-dev"])]),
        .target(name: "CDeviceModelShims"),
        // io_uring (the block engine's ring): liburing's static-inline helpers wrapped for Swift.
        .systemLibrary(name: "CURing", pkgConfig: "liburing", providers: [.apt(["liburing-dev"])]),
        .target(name: "CKVM"),
        // pixman: display surfaces and virtio-gpu resources are pixman images.
        .systemLibrary(name: "CPixman", pkgConfig: "pixman-1", providers: [.apt(["libpixman-1-dev"])]),
        // zlib: the VNC server's ZRLE streams and the PNG screenshots' IDAT.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(
            name: "CXen",
            pkgConfig: "xendevicemodel xenforeignmemory xenevtchn xenstore",
            providers: [.apt(["libxen-dev"])]),

        // Hypervisor-generic core: never imports a backend.
        .target(
            name: "DeviceModel",
            dependencies: [
                "CGLib", "CDeviceModelShims",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(name: "DeviceModelTesting", dependencies: ["DeviceModel"]),

        // The virtio framework: split virtqueue, device protocol, queue service runtime and the
        // virtio-mmio / virtio-pci transports, generic over any `VirtioDevice`.
        .target(name: "Virtio", dependencies: ["DeviceModel", "CDeviceModelShims"]),
        // Host I/O the devices sit on (image files, tap, console descriptors, getrandom):
        // no virtio knowledge, so it never imports `Virtio`.
        .target(name: "HostIO", dependencies: ["DeviceModel", "CDeviceModelShims", "CURing"]),
        // Displays and input, with no device or output knowledge: the surfaces devices draw
        // into (pixman images), the router from outputs to input devices.
        .target(name: "Display", dependencies: ["CPixman"]),
        // What shows a display outside the machine: the VNC server (RFB 3.8) and screenshots
        // (PNG, PPM). Reads surfaces and sends input through the router; no device knowledge.
        .target(
            name: "DisplayOutputs",
            dependencies: ["Display", "CZlib", "CDeviceModelShims", .product(name: "Logging", package: "swift-log")]),
        // The virtio device models (blk, console, rng, net, gpu, input), one folder each, on the
        // framework and their host backends.
        .target(
            name: "VirtioDevices",
            dependencies: ["Virtio", "HostIO", "DeviceModel", "Display", .product(name: "Logging", package: "swift-log")]),
        // For device authors: a device on a real transport of a simulated machine, driven
        // through its registers as Linux would (`DeviceOnTransport`).
        .target(name: "VirtioTesting", dependencies: ["Virtio", "DeviceModel", "DeviceModelTesting", "HostIO"]),

        // Backends.
        .target(
            name: "KVMGlue",
            dependencies: [
                // X86Machine for the hypervisor-neutral x86 values KVMGlue applies (CPU state,
                // firmware placement); X86Machine never imports a backend.
                "DeviceModel", "X86Machine", "CKVM", "CDeviceModelShims",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "XenGlue",
            dependencies: ["DeviceModel", "CXen", "CDeviceModelShims", .product(name: "Logging", package: "swift-log")]),
        // A simulated Xen hypervisor (ioreq pages, event channels, foreign memory) that
        // drives XenGlue without Xen: used by its tests and by `swiftdm run --ioreq xen-sim`.
        // The QMP control plane: JSON, the protocol's framing and negotiation, commands and events
        // on UNIX sockets. Machines register their commands; it knows nothing of any machine.
        .target(name: "QMP", dependencies: ["DeviceModel", .product(name: "Logging", package: "swift-log")]),
        .target(
            name: "XenSimulation",
            dependencies: ["XenGlue", "DeviceModel", "CXen", "CDeviceModelShims", .product(name: "Logging", package: "swift-log")]),
        // vhost-user: a third virtio transport, serving any `VirtioDevice` to a frontend
        // process; it needs the framework only, never the device models.
        .target(
            name: "VhostUser",
            dependencies: [
                "DeviceModel", "Virtio", "CDeviceModelShims",
                .product(name: "Logging", package: "swift-log"),
            ]),

        // The x86 machine model (UART, CMOS, i8042, ACPI PM, e820, boot params, ACPI tables):
        // backend-independent, assembled by the launcher.
        .target(name: "X86Machine", dependencies: ["DeviceModel"]),

        // Machine assembly with no backend of its own: the device catalogue (one spec and one
        // parser per device kind), virtio transports placed on PCI slots or virtio-mmio windows,
        // the PC (platform devices, PCI host bridge, boot) on any X86Accelerator, and machines
        // served through an ioreq server, and their QMP commands (`PCMachineQMP`: QMP knows no
        // machine, the machine registers itself). The launcher's commands are thin front ends over it.
        .target(
            name: "Machine",
            dependencies: [
                "DeviceModel", "X86Machine", "Virtio", "HostIO", "VirtioDevices", "Display", "DisplayOutputs", "QMP", "CDeviceModelShims",
                .product(name: "Logging", package: "swift-log"),
            ]),

        // Real Linux test guests: the Debian guest kit, its runners (QEMU, user-mode Linux,
        // `swiftdm run`) and the demo. Drives QEMU and the `swiftdm` binary as processes, so it
        // depends on no swiftdm target.
        .target(name: "GuestKit"),

        // `swiftdm bench`'s storage side: a vhost-user-blk frontend of our own (no guest) with a
        // load generator, and the runner that alternates swiftdm and qemu-storage-daemon on it.
        // It speaks the protocol through VhostUser's message types and starts both backends
        // (and fio) as processes through GuestKit.
        .target(
            name: "StorageBench",
            dependencies: ["VhostUser", "Virtio", "VirtioDevices", "DeviceModel", "CDeviceModelShims", "GuestKit"]),

        // `swiftdm bench`'s KVM side: SeaBIOS to an MBR, exit cost and peak RSS on `swiftdm run`,
        // QEMU and a minimal C KVM loop, all as processes (the guests are bytes in Swift; their
        // nasm sources sit beside them).
        .target(name: "MachineBench", dependencies: ["GuestKit", "StorageBench"], exclude: ["Guests"]),

        // The launcher.
        .executableTarget(
            name: "swiftdm",
            dependencies: [
                "DeviceModel", "Virtio", "KVMGlue", "XenGlue", "XenSimulation", "VhostUser", "X86Machine", "Machine", "QMP",
                "Display", "DisplayOutputs",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // Release builds link the Swift runtime statically: a running machine then maps only
            // the runtime code it reaches instead of whole shared libraries (libswiftCore,
            // FoundationEssentials for swift-argument-parser, Concurrency, Dispatch, regex), and
            // without exporting every symbol, none of which a machine looks up. Peak RSS of a
            // 64 MiB SeaBIOS guest: 19.2 MB → 15.6 MB (BENCHMARKS.md, "Peak RSS"). Release only:
            // debug test bundles link this target beside the shared runtime XCTest/Testing need.
            linkerSettings: [
                .unsafeFlags(
                    ["-static-stdlib", "-l_FoundationCollections", "-l_FoundationCShims", "-Xlinker", "--no-export-dynamic"],
                    .when(platforms: [.linux], configuration: .release)),
            ]),
        // `swiftdm guest-kit|demo|lab`, which need Foundation: the launcher hands them over to
        // this executable so a running machine never loads Foundation (see KitCommandForwarder).
        .executableTarget(
            name: "swiftdm-kit",
            dependencies: ["GuestKit", "StorageBench", "MachineBench", .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        .testTarget(name: "DeviceModelTests", dependencies: ["DeviceModel", "DeviceModelTesting"]),
        .testTarget(name: "DisplayTests", dependencies: ["Display"]),
        // The VNC server against a test RFB client of our own and vncdotool; screenshots.
        .testTarget(name: "DisplayOutputsTests", dependencies: ["DisplayOutputs", "Display", "CZlib"]),
        .testTarget(
            name: "VirtioDevicesTests",
            dependencies: ["Virtio", "HostIO", "VirtioDevices", "VirtioTesting", "DeviceModelTesting"]),
        // Test support shared by test targets: the nasm test guests, host checks, the built
        // swiftdm executable as a child process.
        .target(name: "SwiftdmTestSupport", dependencies: ["KVMGlue"], path: "Tests/SwiftdmTestSupport"),
        .testTarget(name: "KVMGlueTests", dependencies: ["KVMGlue", "X86Machine", "DeviceModelTesting", "SwiftdmTestSupport"]),
        // The launcher end to end: `swiftdm run`, `swiftdm xen`, `swiftdm vhost-user` as processes.
        .testTarget(name: "LauncherTests", dependencies: ["swiftdm", "swiftdm-kit", "SwiftdmTestSupport", "DeviceModelTesting", "XenGlue", "KVMGlue", "QMP"]),
        .testTarget(name: "QMPTests", dependencies: ["QMP"]),
        .testTarget(name: "MachineTests", dependencies: ["Machine", "DeviceModelTesting", "VirtioDevices", "KVMGlue", "SwiftdmTestSupport", "XenGlue", "XenSimulation"]),
        .testTarget(name: "XenGlueTests", dependencies: ["XenGlue", "XenSimulation", "Virtio", "HostIO", "VirtioDevices", "DeviceModelTesting"]),
        // The vhost-user backend in process, and `swiftdm vhost-user` as a child process killed
        // mid-I/O (the dependency on the executable only makes sure it is built).
        .testTarget(name: "VhostUserTests", dependencies: ["VhostUser", "Virtio", "DeviceModelTesting", "SwiftdmTestSupport", "swiftdm"]),
        // Real Linux virtio drivers (QEMU TCG, user-mode Linux) on `swiftdm vhost-user` and
        // `swiftdm run`. The tests run the `swiftdm` executable as a child process (found next
        // to the test bundle); the dependency on it only makes sure it is built.
        .testTarget(name: "LinuxGuestTests", dependencies: ["GuestKit", "swiftdm", "swiftdm-kit"]),
        .testTarget(name: "X86MachineTests", dependencies: ["X86Machine", "DeviceModelTesting"]),
        // The load generator against `swiftdm vhost-user --blk` and qemu-storage-daemon as
        // processes, and `swiftdm bench` through the launcher (the dependencies on the
        // executables only make sure they are built).
        // The KVM bench's guests against their nasm sources, its table, its process runner.
        // One round of each scenario runs the built `swiftdm` (the dependency makes sure it is built).
        .testTarget(name: "MachineBenchTests", dependencies: ["MachineBench", "SwiftdmTestSupport", "swiftdm"]),
        .testTarget(name: "StorageBenchTests", dependencies: ["StorageBench", "GuestKit", "SwiftdmTestSupport", "swiftdm", "swiftdm-kit"]),
    ],
    swiftLanguageModes: [.v6]
)

// In-process fuzz targets (libFuzzer), one executable per guest- or peer-facing parser.
// Declared only when SWIFTDM_FUZZ=1, because they link libFuzzer's `main` and build only
// with `-sanitize=fuzzer`: see Fuzz/run.
if Context.environment["SWIFTDM_FUZZ"] == "1" {
    let fuzzTargets: [(name: String, dependencies: [Target.Dependency])] = [
        ("LinuxBootImage", ["X86Machine"]),
        ("SplitVirtqueue", ["DeviceModel", "Virtio"]),
        ("VirtioMMIO", ["FuzzTransportSupport"]),
        ("VirtioPCI", ["FuzzTransportSupport"]),
        ("VhostUserMessages", ["VhostUser", "VirtioDevices", "DeviceModel", "CDeviceModelShims",
                               .product(name: "Logging", package: "swift-log")]),
        ("XenIoreq", ["XenGlue", "DeviceModel", "CXen"]),
        ("VirtioBlock", ["FuzzDeviceSupport", "DeviceModel", "Virtio", "VirtioDevices", "HostIO"]),
        ("VirtioNet", ["FuzzDeviceSupport", "DeviceModel", "Virtio", "VirtioDevices", "HostIO"]),
        ("VirtioConsole", ["FuzzDeviceSupport", "DeviceModel", "Virtio", "VirtioDevices", "HostIO"]),
        ("VhostUserInflight", ["VhostUser", "DeviceModel", "Virtio"]),
        ("VirtioGPU", ["FuzzDeviceSupport", "DeviceModel", "Display", "Virtio", "VirtioDevices"]),
        ("VirtioInput", ["FuzzDeviceSupport", "DeviceModel", "Display", "Virtio", "VirtioDevices"]),
    ]
    package.targets.append(.target(name: "FuzzSupport", path: "Fuzz/Support"))
    package.targets.append(.target(
        name: "FuzzDeviceSupport", dependencies: ["FuzzSupport", "DeviceModel", "Virtio"], path: "Fuzz/DeviceSupport"))
    package.targets.append(.target(
        name: "FuzzTransportSupport",
        dependencies: ["FuzzSupport", "DeviceModel", "DeviceModelTesting", "Virtio", "VirtioDevices", "VirtioTesting"],
        path: "Fuzz/TransportSupport"))
    for t in fuzzTargets {
        package.targets.append(.executableTarget(name: "Fuzz\(t.name)", dependencies: ["FuzzSupport"] + t.dependencies, path: "Fuzz/Targets/\(t.name)"))
        package.products.append(.executable(name: "Fuzz\(t.name)", targets: ["Fuzz\(t.name)"]))
    }
}

// Micro-benchmarks of the data path with ordo-one's package-benchmark (allocation counts
// through its malloc interposer): `SWIFTDM_BENCHMARKS=1 swift package benchmark`. Declared
// only then, so the everyday build and CI resolve no benchmark packages.
if Context.environment["SWIFTDM_BENCHMARKS"] == "1" {
    package.dependencies.append(
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]))
    package.targets.append(.executableTarget(
        name: "DataPath",
        dependencies: ["DeviceModel", "Virtio", "HostIO", "VirtioDevices", "DeviceModelTesting", "VirtioTesting",
                       .product(name: "Benchmark", package: "benchmark"), .product(name: "Logging", package: "swift-log")],
        path: "Benchmarks/DataPath",
        plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]))
}
