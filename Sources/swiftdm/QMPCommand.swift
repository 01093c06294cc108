import ArgumentParser
import QMP

/// `swiftdm qmp --socket PATH COMMAND [ARGUMENTS]`: one QMP command to a running machine (any
/// QMP server: swiftdm's or QEMU's), its `return` value printed as JSON — for scripts and
/// minimal hosts without Python's `qmp-shell`. With `--wait-event NAME` it then prints every
/// event, one JSON object a line, until `NAME` arrives (`system_powerdown --wait-event
/// SHUTDOWN` waits for the guest to power off).
struct QMPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qmp",
        abstract: "Send one QMP command to a running machine and print its result.")

    @Option(help: ArgumentHelp("The machine's QMP socket (its --qmp unix:PATH).", valueName: "path"))
    var socket: String

    @Option(help: ArgumentHelp("Seconds to wait for the reply.", valueName: "s"))
    var timeout: Int = 60

    @Option(help: ArgumentHelp("After the reply, print events (one JSON object a line) until this one arrives; fail if the connection closes or --timeout passes without an event first.", valueName: "event"))
    var waitEvent: String?

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
            guard let waitEvent else { return }
            while true {
                let event = try client.nextEvent()
                print(event)
                if event["event"]?.stringValue == waitEvent { return }
            }
        } catch {
            printToStandardError("swiftdm qmp: \(error)")
            throw ExitCode(1)
        }
    }
}
