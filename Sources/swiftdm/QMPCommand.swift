import ArgumentParser
import QMP

/// `swiftdm qmp --socket PATH COMMAND [ARGUMENTS]`: one QMP command to a running machine (any
/// QMP server: swiftdm's or QEMU's), its `return` value printed as JSON — for scripts and
/// minimal hosts without Python's `qmp-shell`.
struct QMPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qmp",
        abstract: "Send one QMP command to a running machine and print its result.")

    @Option(help: ArgumentHelp("The machine's QMP socket (its --qmp unix:PATH).", valueName: "path"))
    var socket: String

    @Option(help: ArgumentHelp("Seconds to wait for the reply.", valueName: "s"))
    var timeout: Int = 60

    @Argument(help: ArgumentHelp("The command, e.g. query-status, stop, migrate.", valueName: "command"))
    var command: String

    @Argument(help: ArgumentHelp("Its arguments as a JSON object, e.g. '{\"uri\": \"file:/tmp/snap\"}'.", valueName: "json"))
    var arguments: String?

    func run() throws {
        var args: JSONValue?
        if let arguments {
            do {
                let parsed = try JSONParser.parse(arguments)
                guard case .object = parsed else { throw JSONParseError(reason: "not an object", offset: 0) }
                args = parsed
            } catch {
                printToStandardError("swiftdm qmp: arguments '\(arguments)': \(error)")
                throw ExitCode(2)
            }
        }
        do {
            let client = try QMPClient(path: socket, timeout: .seconds(timeout))
            print(try client.execute(command, arguments: args))
        } catch {
            printToStandardError("swiftdm qmp: \(error)")
            throw ExitCode(1)
        }
    }
}
