import Foundation
import SwiftdmTestSupport
import Testing

/// `swiftdm demo|lab|guest-kit` hand over to `swiftdm-kit`, so the launcher that runs machines
/// does not link Foundation (its internationalisation layer and ICU cost several MiB of
/// resident memory in every running machine).
@Suite struct KitForwardingTests {
    @Test(arguments: [(["demo", "--help"], "--disk-mib"), (["lab", "run", "--help"], "--file"), (["guest-kit", "--help"], "--out")])
    func kitCommandsAnswerThroughTheLauncher(arguments: [String], option: String) throws {
        let r = try SwiftdmExecutable.run(arguments, timeout: 60)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains(option), "\(arguments) help lacks \(option): \(r.stdout)")
        #expect(r.stdout.contains("swiftdm \(arguments[0])"), "usage names the launcher")
    }

    @Test func theLauncherLinksNoFoundation() throws {
        let swiftdm = try #require(SwiftdmExecutable.path)
        let ldd = Process()
        ldd.executableURL = URL(fileURLWithPath: "/usr/bin/ldd")
        ldd.arguments = [swiftdm]
        let pipe = Pipe()
        ldd.standardOutput = pipe
        try ldd.run()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        ldd.waitUntilExit()
        // libc, not libswiftCore: release builds link the Swift runtime statically.
        #expect(out.contains("libc.so"), "ldd printed the libraries: \(out)")
        for library in ["libFoundation.so", "libFoundationInternationalization.so", "lib_FoundationICU.so"] {
            #expect(!out.contains(library), "swiftdm links \(library)")
        }
    }
}
