@testable import DisplayOutputs
import Testing

struct VNCConfigurationTests {
    @Test func parsesTheLauncherSpellings() throws {
        #expect(try VNCConfiguration(parsing: "unix=/run/vm.sock").listen == .unix("/run/vm.sock"))
        #expect(try VNCConfiguration(parsing: "localhost:0").listen == .tcp(host: "localhost", display: 0))
        #expect(try VNCConfiguration(parsing: "0.0.0.0:1").listen == .tcp(host: "0.0.0.0", display: 1))
        #expect(try VNCConfiguration(parsing: ":0").listen == .tcp(host: "127.0.0.1", display: 0))
        #expect(try VNCConfiguration(parsing: "[::1]:3").listen == .tcp(host: "::1", display: 3))
        #expect(try VNCConfiguration(parsing: ":2", password: "pw").password == "pw")
    }

    @Test(arguments: ["", "unix=", "localhost", ":x", ":-1", ":99999", "::1:0", "[::1", "[::1]0", "host:1a"])
    func refusesOthers(_ text: String) {
        #expect(throws: VNCError.self) { try VNCConfiguration(parsing: text) }
        do { _ = try VNCConfiguration(parsing: text) } catch {
            #expect(error.description.contains("'\(text)'"))
        }
    }
}
