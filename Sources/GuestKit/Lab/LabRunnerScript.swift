/// The shell scripts the L1 guest runs: ``setup`` loads the KVM modules the lab added to the
/// kit's module list (the kit's `/init` already loaded them) and checks `/dev/kvm`; the runner
/// runs each scenario between markers the host parses (``NestedKVMLabRun``).
///
/// Markers, each on its own line:
/// - `LAB-KVM-READY uptime=S` once `/dev/kvm` exists, or `LAB-NO-KVM reason` and nothing else;
/// - `LAB-BEGIN name` before a scenario's command;
/// - `LAB-RETRY name reason` when the command's first attempt is thrown away and it runs once
///   more (see ``retryCondition``): what came before belongs to the discarded attempt;
/// - `LAB-END name status=N seconds=S` after it and its ``NestedKVMScenario/afterwards`` lines;
/// - before that, each of the scenario's ``NestedKVMScenario/returnedFiles`` base64-encoded
///   between `LAB-FILE-BEGIN path` and `LAB-FILE-END path`, or `LAB-FILE-MISSING path`;
/// - `LAB-NET-READY if=NAME` (or `LAB-NET-DOWN reason`) after the setup when L1 has the
///   host forward's NIC.
enum LabRunnerScript {
    static let kvmReadyMarker = "LAB-KVM-READY"
    static let noKVMMarker = "LAB-NO-KVM"
    static let beginMarker = "LAB-BEGIN"
    static let endMarker = "LAB-END"
    static let retryMarker = "LAB-RETRY"
    /// The one failure a scenario is run again for: an application processor (vCPU 1 or later)
    /// of L2 triple-faulted before L2's `/init` printed its readiness line, i.e. while Linux
    /// brought the CPU up. Seen once among a CI run's 2-vCPU boots under nested SVM on QEMU TCG
    /// and in none of twelve reruns of the same command, so it is taken as the emulation's
    /// rather than swiftdm's; the retry is announced, never silent.
    static let retryCondition = "grep -q 'vCPU [1-9][0-9]*: guest shut down the CPU (triple fault)' \"$log\" && ! grep -q '\(GuestInit.readyMarker)' \"$log\""
    static let fileBeginMarker = "LAB-FILE-BEGIN"
    static let fileEndMarker = "LAB-FILE-END"
    static let fileMissingMarker = "LAB-FILE-MISSING"
    static let netReadyMarker = "LAB-NET-READY"
    static let netDownMarker = "LAB-NET-DOWN"
    /// Prefix of L1 kernel messages logged while a scenario ran.
    static let l1KernelPrefix = "l1-kernel: "

    /// Checks `/dev/kvm` after the kit's `/init` loaded `irqbypass`, `kvm` and `kvm-amd`. Without
    /// SVM in QEMU's `-cpu max` (an old QEMU, or a host that is not x86) `kvm-amd` refuses to
    /// load and the kernel log says why.
    static let setup = """
        if [ ! -c /dev/kvm ]; then
            why=$(dmesg | grep -i -E 'kvm|svm' | tail -n 3 | tr '\\n' ' ')
            grep -q -w svm /proc/cpuinfo || why="the L1 CPU has no svm flag (QEMU TCG -cpu max without AMD SVM). $why"
            echo "\(noKVMMarker) ${why:-kvm-amd did not create /dev/kvm}"
            exit 3
        fi
        # L1's kernel messages go to each scenario's output (dmesg -c), not into L2's console lines.
        echo 0 > /proc/sys/kernel/printk 2>/dev/null
        dmesg -c > /dev/null 2>&1
        echo "\(kvmReadyMarker) uptime=$(cut -d' ' -f1 /proc/uptime)"
        """

    /// L1's side of the host forward: the first interface that is not loopback (the forward's
    /// virtio-net NIC; `virtio_net` is in L1's module list then) gets user-mode networking's
    /// static guest address, and loopback comes up too.
    static let network = """
        lab_if=""
        for n in /sys/class/net/*; do i=${n##*/}; [ "$i" = lo ] || [ -n "$lab_if" ] || lab_if=$i; done
        ip link set lo up
        if [ -z "$lab_if" ]; then
            echo "\(netDownMarker) no network interface besides lo"
        elif ip addr add \(NestedKVMLab.TCPForward.l1Address)/24 dev "$lab_if" && ip link set "$lab_if" up && ip route add default via 10.0.2.2 dev "$lab_if"; then
            echo "\(netReadyMarker) if=$lab_if"
        else
            echo "\(netDownMarker) configuring $lab_if failed"
        fi
        """

    /// The runner for `scenarios`, in order; with `network`, L1 configures the host forward's
    /// NIC first (``network``).
    static func runner(for scenarios: [NestedKVMScenario], network: Bool = false) -> String {
        var lines = [". \(LabPaths.setup)", "mkdir -p \(LabPaths.files)",
                     "elapsed() { awk -v a=\"$1\" -v b=\"$(cut -d' ' -f1 /proc/uptime)\" 'BEGIN { printf \"%.2f\", b - a }'; }"]
        if network { lines.append(". \(LabPaths.network)") }
        for s in scenarios {
            let seconds = Int(s.timeout.components.seconds)
            lines += [
                "echo \"\(beginMarker) \(s.name)\"",
                s.preparation,
                "attempt=1",
                "while :; do",
                "start=$(cut -d' ' -f1 /proc/uptime)",
                // The output streams to the console through tee and is kept in $log for the
                // retry check.
                "log=/tmp/lab-scenario.log; pipe=/tmp/lab-scenario.pipe; rm -f \"$pipe\"; mkfifo \"$pipe\"",
                "tee \"$log\" < \"$pipe\" &",
                "teepid=$!",
                // No standard input: the L2 serial console reads it, and L1's console belongs to the
                // lab. A watchdog of our own rather than busybox `timeout`, which was seen letting a
                // hung L2 run past its limit; the status is then 137 (SIGKILL).
                "\(s.commandLine.map(quoted).joined(separator: " ")) < /dev/null > \"$pipe\" 2>&1 &",
                "pid=$!",
                "( sleep \(seconds); kill -9 $pid 2>/dev/null && echo 'lab: killed after \(seconds) s' ) &",
                "watchdog=$!",
                "wait $pid",
                "status=$?",
                "kill $watchdog 2>/dev/null",
                "wait $teepid",
                "if [ $status -ne 0 ] && [ $attempt -eq 1 ] && \(retryCondition); then",
                "echo \"\(retryMarker) \(s.name) an application processor of L2 triple-faulted while Linux brought it up (status $status); running the scenario once more\"",
                "attempt=2; continue",
                "fi",
                "break",
                "done",
                "took=$(elapsed \"$start\")",
                s.afterwards,
                returnFiles(s.returnedFiles),
                // What L1's KVM logged during the scenario (such as MSRs it does not handle).
                "dmesg -c 2>/dev/null | sed 's/^/\(l1KernelPrefix)/'",
                "echo \"\(endMarker) \(s.name) status=$status seconds=$took\"",
            ]
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Lines printing each of `paths` base64-encoded between markers (busybox `base64`, 76
    /// characters a line), for ``NestedKVMScenarioResult/files``.
    static func returnFiles(_ paths: [String]) -> String {
        paths.map { p in
            let q = quoted(p)
            return "if [ -f \(q) ]; then echo \"\(fileBeginMarker) \(p)\"; base64 \(q); echo \"\(fileEndMarker) \(p)\"; else echo \"\(fileMissingMarker) \(p)\"; fi"
        }.joined(separator: "\n")
    }

    /// `word` as one single-quoted shell word.
    static func quoted(_ word: String) -> String {
        "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
