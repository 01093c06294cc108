import FuzzSupport
import X86Machine

/// The Linux boot-image parser (`LinuxSetupHeader`, `LinuxKernelImage`) over arbitrary
/// bytes. Beyond "no crash": an accepted image's protected-mode kernel lies inside the file
/// and starts right after the setup sectors; a 64-bit entry is required.
@main
struct LinuxBootImageFuzz {
    static func main() {
        FuzzDriver.run { data in
            let bytes = Array(data)
            guard let header = try? LinuxSetupHeader(image: bytes) else { return }
            invariant(header.protectedModeOffset >= 512, "setup code must include the boot sector")
            if let version = header.kernelVersionString(in: bytes) { invariant(version.utf8.count <= bytes.count) }
            guard let image = try? LinuxKernelImage(bytes: bytes) else { return }
            invariant(image.protectedModeKernel.startIndex == header.protectedModeOffset)
            invariant(image.protectedModeKernel.count == bytes.count - header.protectedModeOffset)
            invariant(image.header.has64BitEntry)
        }
    }
}
