/// Why ``HostEntropy`` produced no bytes.
public enum HostEntropyError: Error, Equatable, CustomStringConvertible {
    /// `getrandom(2)` failed with `requested` bytes still to fill.
    case getrandom(requested: Int, errno: Int32)

    public var description: String {
        switch self {
        case .getrandom(let n, let e): "getrandom of \(n) bytes failed: errno \(e)"
        }
    }
}
