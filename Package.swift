// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "swiftdm",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "DeviceModel", targets: ["DeviceModel"]),
        .library(name: "VirtioDevices", targets: ["VirtioDevices"]),
        .library(name: "KVMGlue", targets: ["KVMGlue"]),
        .library(name: "XenGlue", targets: ["XenGlue"]),
        .library(name: "VhostUser", targets: ["VhostUser"]),
        .library(name: "X86Machine", targets: ["X86Machine"]),
        .library(name: "DeviceModelTesting", targets: ["DeviceModelTesting"]),
        .executable(name: "swiftdm", targets: ["swiftdm"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // Thin C interop: GLib (event loop), kernel/libc helpers, <linux/kvm.h>, libxen.
        .systemLibrary(name: "CGLib", pkgConfig: "glib-2.0", providers: [.apt(["libglib2.0-dev"])]),
        .target(name: "CDeviceModelShims"),
        .target(name: "CKVM"),
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
        .target(name: "VirtioDevices", dependencies: ["DeviceModel", "CDeviceModelShims"]),
        .target(name: "DeviceModelTesting", dependencies: ["DeviceModel"]),

        // Backends.
        .target(
            name: "KVMGlue",
            dependencies: ["DeviceModel", "CKVM", "CDeviceModelShims", .product(name: "Logging", package: "swift-log")]),
        .target(
            name: "XenGlue",
            dependencies: ["DeviceModel", "CXen", "CDeviceModelShims", .product(name: "Logging", package: "swift-log")]),
        // A simulated Xen hypervisor (ioreq pages, event channels, foreign memory) that
        // drives XenGlue without Xen: used by its tests and by `swiftdm run --ioreq xen-sim`.
        .target(
            name: "XenSimulation",
            dependencies: ["XenGlue", "DeviceModel", "CXen", .product(name: "Logging", package: "swift-log")]),
        .target(
            name: "VhostUser",
            dependencies: [
                "DeviceModel", "VirtioDevices", "CDeviceModelShims",
                .product(name: "Logging", package: "swift-log"),
            ]),

        // The x86 machine model (UART, CMOS, i8042, ACPI PM, e820, boot params, ACPI tables):
        // backend-independent, assembled by the launcher.
        .target(name: "X86Machine", dependencies: ["DeviceModel"]),

        // The launcher.
        .executableTarget(
            name: "swiftdm",
            dependencies: [
                "DeviceModel", "VirtioDevices", "KVMGlue", "XenGlue", "XenSimulation", "VhostUser", "X86Machine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),

        .testTarget(name: "DeviceModelTests", dependencies: ["DeviceModel", "DeviceModelTesting"]),
        .testTarget(name: "VirtioDevicesTests", dependencies: ["VirtioDevices", "DeviceModelTesting"]),
        .testTarget(name: "KVMGlueTests", dependencies: ["KVMGlue", "DeviceModelTesting"]),
        .testTarget(name: "XenGlueTests", dependencies: ["XenGlue", "XenSimulation", "VirtioDevices", "DeviceModelTesting"]),
        .testTarget(name: "VhostUserTests", dependencies: ["VhostUser", "DeviceModelTesting"]),
        // Real Linux virtio drivers (QEMU TCG, user-mode Linux) on `swiftdm vhost-user`.
        .testTarget(name: "LinuxGuestTests", dependencies: ["swiftdm"]),
        .testTarget(name: "X86MachineTests", dependencies: ["X86Machine", "DeviceModelTesting"]),
    ],
    swiftLanguageModes: [.v6]
)
