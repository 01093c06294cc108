import DeviceModel

extension EventNotifierError {
    /// The errno inside, for ``StorageBenchError/system(call:errno:)``.
    var errno: Int32 {
        switch self {
        case .createFailed(let e): e
        case .writeFailed(_, let e): e
        }
    }
}
