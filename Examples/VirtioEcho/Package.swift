// swift-tools-version:6.1
// A virtio device written outside swiftdm, against its public library products only: the
// `Virtio` framework for the device, `VirtioTesting` (and the `DeviceModelTesting` driver it
// hands out) for its test.
import PackageDescription

let package = Package(
    name: "VirtioEcho",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "VirtioEcho", targets: ["VirtioEcho"]),
    ],
    dependencies: [
        .package(name: "swiftdm", path: "../.."),
    ],
    targets: [
        .target(name: "VirtioEcho", dependencies: [
            .product(name: "Virtio", package: "swiftdm"),
        ]),
        .testTarget(name: "VirtioEchoTests", dependencies: [
            "VirtioEcho",
            .product(name: "Virtio", package: "swiftdm"),
            .product(name: "VirtioTesting", package: "swiftdm"),
            .product(name: "DeviceModelTesting", package: "swiftdm"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
