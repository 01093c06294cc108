/// Why the server closes one client: bad input, a failed password, a lost connection. Logged
/// with the client's name; other clients never notice.
struct RFBViolation: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
