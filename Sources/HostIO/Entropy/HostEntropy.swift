import CDeviceModelShims
#if canImport(Glibc)
import Glibc
#endif

/// The host kernel's CSPRNG.
public enum HostEntropy {
    /// Fills `buffer` with random bytes, blocking only until the kernel pool is first
    /// initialised (early at host boot). Retries `EINTR` and short reads. `getrandom(2)`.
    public static func fill(_ buffer: UnsafeMutableRawBufferPointer) throws(HostEntropyError) {
        guard let base = buffer.baseAddress else { return }
        var done = 0
        while done < buffer.count {
            let n = swiftdm_getrandom(base + done, buffer.count - done, 0)
            if n > 0 {
                done += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                throw .getrandom(requested: buffer.count - done, errno: n < 0 ? errno : EIO)
            }
        }
    }
}
