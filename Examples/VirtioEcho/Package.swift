// swift-tools-version:6.1
// A virtio device written outside swiftdm, against its public library products only.
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
            .product(name: "DeviceModel", package: "swiftdm"),
            .product(name: "VirtioDevices", package: "swiftdm"),
        ]),
        .testTarget(name: "VirtioEchoTests", dependencies: [
            "VirtioEcho",
            .product(name: "DeviceModel", package: "swiftdm"),
            .product(name: "VirtioDevices", package: "swiftdm"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
