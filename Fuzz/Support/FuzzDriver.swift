#if canImport(Glibc)
import Glibc
#endif

// libFuzzer's driver, called from our own `main` (SwiftPM gives every executable one, so
// libFuzzer's `main` is never linked in). Available since LLVM 11.
@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

// SAFETY: written once before libFuzzer starts, then only read from its (single) thread.
nonisolated(unsafe) private var fuzzBody: ((UnsafeRawBufferPointer) -> Void)?

/// Runs libFuzzer with this process's arguments, calling `body` with each input.
/// A broken invariant is a `precondition` failure inside `body`: libFuzzer reports it as
/// a crash and saves the input.
public enum FuzzDriver {
    public static func run(_ body: @escaping (UnsafeRawBufferPointer) -> Void) -> Never {
        fuzzBody = body
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        let status = LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            fuzzBody?(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
            return 0
        }
        exit(status)
    }
}

/// Reads fuzz input as a stream of little-endian values; past the end it yields zeros, so
/// every input decodes to something.
public struct FuzzInput {
    private let bytes: UnsafeRawBufferPointer
    public private(set) var offset = 0

    public init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    public var isExhausted: Bool { offset >= bytes.count }

    public mutating func u8() -> UInt8 {
        guard offset < bytes.count else { return 0 }
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func u16() -> UInt16 { UInt16(u8()) | UInt16(u8()) << 8 }
    public mutating func u32() -> UInt32 { UInt32(u16()) | UInt32(u16()) << 16 }
    public mutating func u64() -> UInt64 { UInt64(u32()) | UInt64(u32()) << 32 }

    /// Up to `count` bytes (fewer at the end of the input).
    public mutating func take(_ count: Int) -> [UInt8] {
        let n = max(0, min(count, bytes.count - offset))
        defer { offset += n }
        return Array(bytes[offset..<offset + n])
    }

    /// The rest of the input.
    public mutating func rest() -> [UInt8] { take(bytes.count - offset) }
}

/// An invariant of the code under test: when it does not hold, prints `message` (release
/// builds drop `precondition` messages) and aborts, which libFuzzer reports as a crash.
public func invariant(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String = "",
                      file: StaticString = #fileID, line: UInt = #line) {
    guard !condition() else { return }
    printError("invariant broken at \(file):\(line): \(message())")
    abort()
}

/// A state the target cannot continue from: prints `message` and aborts.
public func fuzzFailure(_ message: String, file: StaticString = #fileID, line: UInt = #line) -> Never {
    printError("fuzz target failed at \(file):\(line): \(message)")
    abort()
}

private func printError(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
