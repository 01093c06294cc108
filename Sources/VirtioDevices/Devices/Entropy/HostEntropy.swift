import CDeviceModelShims
#if canImport(Glibc)
import Glibc
#endif

/// The host kernel's CSPRNG.
enum HostEntropy {
    /// Fills `buffer` from `getrandom(2)` (blocking only until the kernel pool is first
    /// initialised, early at host boot). Returns the errno on failure.
    static func fill(_ buffer: UnsafeMutableRawBufferPointer) -> Int32? {
        var done = 0
        while done < buffer.count {
            let n = swiftdm_getrandom(buffer.baseAddress! + done, buffer.count - done, 0)
            if n > 0 {
                done += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return n < 0 ? errno : EIO
            }
        }
        return nil
    }
}
