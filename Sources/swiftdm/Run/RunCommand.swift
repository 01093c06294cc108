import ArgumentParser
import DisplayOutputs
import Machine
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
        let options: RunOptions
        do {
            options = try RunOptions.parse(Self.givingBareOptionsAValue(arguments))
        } catch {
            Self.fail(RunOptions.message(for: error))
        }
        let configuration: PCConfiguration
        let exits: IoreqChoice
        let display: (vnc: VNCConfiguration?, screenshot: String?)
        let qmpSockets: [String]
        do {
            (configuration, exits) = try options.configuration()
            display = try options.displayOutputs()
            qmpSockets = try options.qmpSockets()
        } catch {
            Self.fail("\(error)")
        }
        if options.check {
            print(RunSession.summary(configuration, exits: exits))
            return
        }
        var snapshot: MachineSnapshot?
        if let directory = options.restore {
            do { snapshot = try MachineSnapshot(loading: directory) } catch { Self.fail("\(error)") }
        }
        let status = RunSession(configuration: configuration, exits: exits, timings: options.timings, seccomp: options.seccomp,
                                vnc: display.vnc, screenshotOnExit: display.screenshot, qmpSockets: qmpSockets,
                                restoring: snapshot).run()
        throw ExitCode(status)
    }

    /// Options that may stand alone, taking their defaults (`--gpu`, like QEMU's `-device virtio-gpu`).
    static let optionsWithOptionalValue: Set<String> = ["--gpu"]

    /// `arguments` with an empty value after each option of ``optionsWithOptionalValue`` given
    /// without one (last, or followed by another option): ArgumentParser's options always take one.
    static func givingBareOptionsAValue(_ arguments: [String]) -> [String] {
        var result: [String] = []
        for (i, a) in arguments.enumerated() {
            result.append(a)
            if optionsWithOptionalValue.contains(a), i + 1 == arguments.count || arguments[i + 1].hasPrefix("-") {
                result.append("")
            }
        }
        return result
    }

    /// Prints `message` as one line on stderr and exits with `status` (2: bad input).
    static func fail(_ message: String, status: Int32 = 2) -> Never {
        printToStandardError("swiftdm run: \(message)".replacingNewlines())
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
