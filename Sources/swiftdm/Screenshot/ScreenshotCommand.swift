import ArgumentParser
import DisplayOutputs
import Machine

/// `swiftdm screenshot`: the current picture of a running machine's first scanout, taken
/// through its VNC server (`swiftdm run --vnc`), written as PNG or PPM.
struct ScreenshotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "screenshot",
        abstract: "Write a running machine's screen (from its --vnc server) to a .png or .ppm file.")

    @Option(help: ArgumentHelp("The machine's VNC server, as given to swiftdm run --vnc.", valueName: "unix=PATH|[HOST]:N"))
    var vnc: String

    @Option(name: .customLong("vnc-password-file"), help: ArgumentHelp("The server's password (first line).", valueName: "path"))
    var vncPasswordFile: String?

    @Argument(help: ArgumentHelp("Where to write the picture (.png or .ppm).", valueName: "output"))
    var output: String

    func run() throws {
        do {
            guard Screenshot.Format(path: output) != nil else {
                throw ValidationError("\(output): expected a path ending in .png or .ppm")
            }
            let server = try VNCOption.configuration(vnc, passwordFile: vncPasswordFile)
            let image = try VNCFrameCapture(server: server.listen, password: server.password).capture()
            try Screenshot.write(image, to: output)
            print("\(output): \(image.width)x\(image.height)")
        } catch let error as ValidationError {
            throw error
        } catch {
            printToStandardError("swiftdm screenshot: \(error)")
            throw ExitCode(1)
        }
    }
}
