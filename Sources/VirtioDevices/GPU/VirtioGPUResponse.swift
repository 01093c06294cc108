/// A response type (`VIRTIO_GPU_RESP_*`, §5.7.6.7).
enum VirtioGPUResponse: UInt32, Sendable, CustomStringConvertible {
    case okNoData = 0x1100
    case okDisplayInfo = 0x1101
    case okEDID = 0x1104
    case errUnspecified = 0x1200
    case errOutOfMemory = 0x1201
    case errInvalidScanoutID = 0x1202
    case errInvalidResourceID = 0x1203
    case errInvalidParameter = 0x1205

    var description: String {
        switch self {
        case .okNoData: "OK_NODATA"
        case .okDisplayInfo: "OK_DISPLAY_INFO"
        case .okEDID: "OK_EDID"
        case .errUnspecified: "ERR_UNSPEC"
        case .errOutOfMemory: "ERR_OUT_OF_MEMORY"
        case .errInvalidScanoutID: "ERR_INVALID_SCANOUT_ID"
        case .errInvalidResourceID: "ERR_INVALID_RESOURCE_ID"
        case .errInvalidParameter: "ERR_INVALID_PARAMETER"
        }
    }
}
