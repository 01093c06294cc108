import Foundation

/// This process's standard output and error, written unbuffered, so report lines and echoed
/// guest consoles appear in the order they happen even when both go to a pipe.
public enum HostOutput {
    /// Writes `text` to standard output as it is (no newline added).
    @Sendable public static func standardOutput(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    /// Writes `text` to standard error as it is (no newline added); pass it as the `echo` of
    /// a runner or ``DemoScenario`` to see guest consoles and backend logs live.
    @Sendable public static func standardError(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
