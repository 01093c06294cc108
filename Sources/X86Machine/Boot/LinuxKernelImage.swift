/// A bzImage: its setup header and its protected-mode kernel.
public struct LinuxKernelImage: Sendable {
    public let header: LinuxSetupHeader
    /// The whole file.
    public let bytes: [UInt8]

    /// The largest kernel file accepted (real bzImages are tens of MiB).
    public static let maximumFileSize = 512 << 20

    /// Parses `bytes` as a bzImage with a 64-bit entry point.
    public init(bytes: [UInt8]) throws(LinuxBootError) {
        let header = try LinuxSetupHeader(image: bytes)
        guard header.has64BitEntry else { throw .no64BitEntry(version: header.version, xloadflags: header.xloadflags) }
        guard header.protectedModeOffset < bytes.count else {
            throw .truncatedKernel(setupBytes: header.protectedModeOffset, fileSize: bytes.count)
        }
        self.header = header
        self.bytes = bytes
    }

    /// Reads and parses the bzImage at `path`.
    public init(path: String) throws(LinuxBootError) {
        try self.init(bytes: try FileContents.readBootFile(path: path, maximumSize: Self.maximumFileSize))
    }

    /// The part loaded at 1 MiB.
    public var protectedModeKernel: ArraySlice<UInt8> { bytes[header.protectedModeOffset...] }

    /// The kernel's version string, if the header points at one.
    public var versionString: String? { header.kernelVersionString(in: bytes) }
}
