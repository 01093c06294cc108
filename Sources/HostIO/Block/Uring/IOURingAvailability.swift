/// Whether this process can use io_uring at all, found once by setting up a small ring:
/// kernels without it, seccomp profiles and containers that forbid it fail here, before any
/// device relies on it.
public enum IOURingAvailability {
    /// `nil` when io_uring works; otherwise why not (the failing call and its errno).
    public static let problem: BlockBackendError? = {
        do throws(BlockBackendError) {
            _ = try IOURing(entries: 2)
            return nil
        } catch {
            return error
        }
    }()
}
