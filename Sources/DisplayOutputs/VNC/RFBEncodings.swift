/// What a client said it can decode (SetEncodings, RFC 6143 §7.5.2), reduced to the choices
/// this server makes.
struct RFBEncodings: Equatable {
    /// How pixel rectangles go out.
    enum Pixels: Equatable { case raw, zrle }

    static let copyRect: Int32 = 1
    static let desktopSize: Int32 = -223

    /// The first of the client's encodings this server implements (Raw, which every client
    /// must decode, when it lists none).
    var pixels: Pixels = .raw
    var copyRect = false
    var desktopSize = false
    var cursor = false

    init() {}

    /// From the client's list, in its order of preference.
    init(_ list: [Int32]) {
        var chosen: Pixels?
        for e in list {
            switch e {
            case RawEncoding.number: if chosen == nil { chosen = .raw }
            case ZRLEEncoding.number: if chosen == nil { chosen = .zrle }
            case Self.copyRect: copyRect = true
            case Self.desktopSize: desktopSize = true
            case CursorEncoding.number: cursor = true
            default: break
            }
        }
        pixels = chosen ?? .raw
    }
}
