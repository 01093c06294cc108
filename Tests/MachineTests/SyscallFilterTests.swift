import CDeviceModelShims
import Machine
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The seccomp allow-list `swiftdm run --seccomp` installs: calls on the list work, anything
/// else fails with EPERM. Each test installs the filter on a thread of its own (filters
/// cannot be removed, and only that thread gets it).
@Suite struct SyscallFilterTests {
    /// What one probe thread saw: each call's result and errno.
    final class Probe: @unchecked Sendable {
        // SAFETY (@unchecked): written by the probe thread before it exits, read after join.
        var installError: String?
        var results: [String: (result: Int, errno: Int32)] = [:]
        let filter: SyscallFilter
        init(_ filter: SyscallFilter) { self.filter = filter }
    }

    /// Installs `filter` on a new thread, then makes the calls `probe` lists there.
    func probe(_ filter: SyscallFilter) -> Probe {
        let probe = Probe(filter)
        let box = Unmanaged.passRetained(probe).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            let p = Unmanaged<Probe>.fromOpaque(raw!).takeRetainedValue()
            do throws(MachineError) { try p.filter.install(allThreads: false) } catch {
                p.installError = "\(error)"
                return nil
            }
            func record(_ name: String, _ result: Int) { p.results[name] = (result, result < 0 ? errno : 0) }
            record("getpid", Int(getpid()))
            var pair: [Int32] = [-1, -1]
            record("socketpair", Int(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair)))
            record("socket", Int(socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)))
            record("open", Int(open("/etc/hostname", O_RDONLY)))
            // glibc names the calling thread with prctl(PR_SET_NAME).
            record("prctl(PR_SET_NAME)", Int(swiftdm_set_thread_name("probe")))
            var bytes = [UInt8](repeating: 0, count: 8)
            record("getrandom", bytes.withUnsafeMutableBytes { swiftdm_getrandom($0.baseAddress, 8, 0) })
            return nil
        }, box)
        #expect(rc == 0)
        pthread_join(thread, nil)
        return probe
    }

    @Test func runningMachineRefusesNewFilesAndSockets() {
        let p = probe(.runningMachine)
        #expect(p.installError == nil, "\(p.installError ?? "")")
        #expect(p.results["getpid"]?.result == Int(getpid()))
        #expect(p.results["getrandom"]?.result == 8)
        #expect(p.results["prctl(PR_SET_NAME)"]?.result == 0, "threads must still name themselves")
        for refused in ["socketpair", "socket", "open"] {
            #expect(p.results[refused]?.result == -1 && p.results[refused]?.errno == EPERM,
                    "\(refused): \(String(describing: p.results[refused]))")
        }
        // The test process itself is untouched.
        let fd = open("/etc/hostname", O_RDONLY)
        #expect(fd >= 0)
        close(fd)
    }

    @Test func aShorterListRefusesMore() {
        var allowed = SyscallFilter.runningMachine.allowed
        allowed.remove(.getrandom)
        let p = probe(SyscallFilter(allowing: allowed))
        #expect(p.installError == nil)
        #expect(p.results["getrandom"]?.result == -1 && p.results["getrandom"]?.errno == EPERM)
        #expect(p.results["getpid"]?.result == Int(getpid()))
    }
}
