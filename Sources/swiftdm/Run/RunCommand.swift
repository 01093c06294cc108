import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

/// `swiftdm run`: boots a guest on swiftdm's own KVM machine.
///
/// The arguments are parsed here rather than by the root command so that every kind of bad
/// input — an unknown option as much as a missing file — ends in exactly one line on stderr and
/// a non-zero exit, before any vCPU runs.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Boot a guest on swiftdm's KVM machine (serial on stdout, stdin to the guest).",
        usage: """
            swiftdm run --kernel <path> [--initrd <path>] [--append <string>] [<options>]
            swiftdm run --firmware <path> [<options>]
            """,
        discussion: Run.optionsHelp,
        helpNames: [])

    /// The OPTIONS part of ``RunOptions``' generated help (its own USAGE line would repeat ours).
    static let optionsHelp: String = {
        let lines = RunOptions.helpMessage(columns: 100).split(separator: "\n", omittingEmptySubsequences: false)
        return lines.drop { !$0.hasPrefix("OPTIONS:") }.joined(separator: "\n")
    }()

    @Argument(parsing: .allUnrecognized, help: .hidden)
    var arguments: [String] = []

    func run() throws {
        if arguments.contains("--help") || arguments.contains("-h") {
            print(Run.helpMessage(columns: 100))
            return
        }
        let configuration: RunConfiguration
        do {
            let options = try RunOptions.parse(arguments)
            configuration = try RunConfiguration(options)
        } catch let error as RunError {
            Self.fail(error)
        } catch {
            Self.fail(.usage(RunOptions.message(for: error)))
        }
        let status = RunSession(configuration: configuration).run()
        throw ExitCode(status)
    }

    /// Prints `error` as one line on stderr and exits with status 2 (bad input).
    static func fail(_ error: RunError, status: Int32 = 2) -> Never {
        printToStandardError("swiftdm run: \(error)".replacingNewlines())
        Glibc.exit(status)
    }
}

extension String {
    /// The string on one line (ArgumentParser's messages may span several).
    fileprivate func replacingNewlines() -> String {
        split(whereSeparator: \.isNewline).map { $0.trimmingCharacters() }.filter { !$0.isEmpty }.joined(separator: " ")
    }
}

extension Substring {
    fileprivate func trimmingCharacters() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
