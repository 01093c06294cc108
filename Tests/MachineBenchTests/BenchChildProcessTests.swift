import Testing
@testable import MachineBench

@Suite("Bench child process")
struct BenchChildProcessTests {
    @Test("lines arrive in order with rising times, and the peak RSS is the child's")
    func lines() throws {
        let run = try BenchChildProcess.run(["/bin/sh", "-c", "echo one; echo two >&2; printf 'three\\r\\n'; sleep 0.3"], lastMarker: "three", timeout: 30)
        #expect(run.lines.map(\.text) == ["one", "two", "three"])
        #expect(zip(run.lines, run.lines.dropFirst()).allSatisfy { $0.seconds <= $1.seconds })
        #expect(run.seconds(toLineContaining: "thr") != nil)
        #expect(run.peakRSSKiB > 0)
        #expect(!run.killed)
    }

    @Test("a child still running after its last line and the grace time is killed")
    func killedAfterGrace() throws {
        let run = try BenchChildProcess.run(["/bin/sh", "-c", "echo done; exec sleep 60"], lastMarker: "done", grace: 0.2, timeout: 30)
        #expect(run.killed)
        #expect(run.lines.map(\.text) == ["done"])
    }

    @Test("a program that does not exist is an error naming it")
    func missingProgram() {
        #expect(throws: MachineBenchError.self) {
            _ = try BenchChildProcess.run(["/nonexistent/swiftdm-bench-test"], lastMarker: "x", timeout: 5)
        }
    }
}
