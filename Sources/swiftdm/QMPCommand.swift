import ArgumentParser
import QMP

/// `swiftdm qmp --socket PATH COMMAND [ARGUMENTS] [COMMAND [ARGUMENTS]]…`: QMP commands to a
/// running machine (any QMP server: swiftdm's or QEMU's) over one connection, back to back,
/// each `return` value printed as JSON on its own line — for scripts and minimal hosts without
/// Python's `qmp-shell`. Several commands leave no gap between them (`stop migrate '{…}'`
/// snapshots a machine the moment it stopped, with its I/O still in flight). With
/// `--wait-event NAME` it then prints every event, one JSON object a line, until `NAME`
/// arrives (`system_powerdown --wait-event SHUTDOWN` waits for the guest to power off).
struct QMPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qmp",
        abstract: "Send QMP commands to a running machine and print their results.")

    @Option(help: ArgumentHelp("The machine's QMP socket (its --qmp unix:PATH).", valueName: "path"))
    var socket: String

    @Option(help: ArgumentHelp("Seconds to wait for each reply or event.", valueName: "s"))
    var timeout: Int = 60

    @Option(help: ArgumentHelp("After the replies, print events (one JSON object a line) until this one arrives; fail if the connection closes or --timeout passes without an event first.", valueName: "event"))
    var waitEvent: String?

    @Argument(help: ArgumentHelp("Commands, each optionally followed by its arguments as one JSON object, e.g. stop migrate '{\"uri\": \"file:/tmp/snap\"}'.", valueName: "command [json]"))
    var words: [String]

    func run() throws {
        let commands: QMPCommandList
        do {
            commands = try QMPCommandList(words: words)
        } catch {
            printToStandardError("swiftdm qmp: \(error)")
            throw ExitCode(2)
        }
        do {
            let client = try QMPClient(path: socket, timeout: .seconds(timeout))
            for c in commands.entries {
                print(try client.execute(c.name, arguments: c.arguments))
            }
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
