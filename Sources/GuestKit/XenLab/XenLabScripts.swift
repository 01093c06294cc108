/// The shell scripts dom0 runs: ``initScript`` brings up Xen's toolstack (xenfs, `xenstored`,
/// `xen-init-dom0`, `xenconsoled`) and checks `xl info` for HVM; the runner runs each scenario
/// between markers the host parses (``XenLabRun``).
///
/// Markers, each on its own line:
/// - `XENLAB-DOM0-READY uptime=S` once `xl info` lists `hvm` in `virt_caps`, or
///   `XENLAB-NO-HVM what xl info said` and nothing else;
/// - `XENLAB-BEGIN name` before a scenario's script;
/// - `XENLAB-END name status=N seconds=S` after it and the lab's clean-up (domains it left are
///   destroyed, each reported with `xenlab: destroyed leftover domain NAME`).
enum XenLabScripts {
    static let readyMarker = "XENLAB-DOM0-READY"
    static let noHVMMarker = "XENLAB-NO-HVM"
    static let beginMarker = "XENLAB-BEGIN"
    static let endMarker = "XENLAB-END"
    /// Kernel command-line word that makes `/init` start a shell instead of the runner.
    static let shellParameter = "xenlab.shell"

    /// Modules dom0 loads (dependencies follow): the Xen device files the toolstack opens,
    /// xenfs, and the backends libxl may ask for.
    static let modules = ["xen_evtchn", "xen_privcmd", "xen_gntdev", "xen_gntalloc", "xenfs", "xen_blkback", "xen_netback", "tun"]

    /// dom0's `/init`; with `watchdog` seconds, it powers off at the latest then.
    static func initScript(watchdogSeconds: Int) -> String {
        """
        #!/bin/sh
        # swiftdm Xen lab: dom0 init. Mount, load the Xen modules, start the toolstack, run the scenarios, power off.
        export PATH=/usr/lib/xen-4.17/bin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        mount -t proc proc /proc
        mount -t sysfs sysfs /sys
        mount -t devtmpfs devtmpfs /dev 2>/dev/null
        mkdir -p /dev/pts /dev/shm
        mount -t devpts devpts /dev/pts
        mount -t tmpfs tmpfs /run
        mount -t tmpfs tmpfs /tmp
        ( sleep \(watchdogSeconds); echo "xenlab: watchdog after \(watchdogSeconds) s, powering off"; poweroff -f ) &
        for m in $(cat \(XenLabPaths.moduleList)); do
            insmod /lib/modules/$m.ko || echo "xenlab: insmod $m failed"
        done
        mount -t xenfs xenfs /proc/xen || echo "xenlab: mounting xenfs failed"
        mkdir -p /run/xen /run/xenstored /var/lib/xen /var/lib/xenstored /var/log/xen
        xenstored --pid-file /run/xen/xenstored.pid
        i=0; while [ ! -s /run/xen/xenstored.pid ] && [ $i -lt 20 ]; do sleep 1; i=$((i + 1)); done
        xen-init-dom0 || echo "xenlab: xen-init-dom0 failed"
        xenconsoled --pid-file=/run/xen/xenconsoled.pid || echo "xenlab: xenconsoled failed"
        info=$(xl info 2>&1)
        if ! echo "$info" | grep '^virt_caps' | grep -qw hvm; then
            echo "\(noHVMMarker) $(echo "$info" | grep -E '^(virt_caps|xen_caps)|rror' | tr '\\n' ' ')"
            sync; poweroff -f
        fi
        echo "$info" | grep -E '^(xen_version|xen_caps|virt_caps|total_memory|free_memory)'
        echo "\(readyMarker) uptime=$(cut -d' ' -f1 /proc/uptime)"
        if grep -qw \(shellParameter) /proc/cmdline; then
            echo "xenlab: dom0 shell; xl, xenstore-*, \(XenLabPaths.swiftdm), files in /root. Leave with poweroff -f."
            setsid cttyhack sh
        else
            sh \(XenLabPaths.runner)
        fi
        sync
        poweroff -f
        """
    }

    /// Functions every scenario script can call.
    static let functions = """
        # Seconds since boot.
        xenlab_uptime() { cut -d' ' -f1 /proc/uptime; }
        # Seconds since START (an xenlab_uptime value), two decimals.
        xenlab_elapsed() { awk -v a="$1" -v b="$(xenlab_uptime)" 'BEGIN { printf "%.2f", b - a }'; }
        # xenlab_wait SECONDS COMMAND...: runs COMMAND every half second until it succeeds (0) or SECONDS pass (1).
        # A line every 30 s says it is still waiting: the host takes a console silent for \(Int(XenLab.stallLimit.components.seconds)) s as a stopped machine.
        xenlab_wait() {
            xenlab_n=$(($1 * 2)); shift
            xenlab_start=$(xenlab_uptime); xenlab_next=60
            while [ $xenlab_n -gt 0 ]; do
                "$@" && return 0
                sleep 0.5; xenlab_n=$((xenlab_n - 1)); xenlab_next=$((xenlab_next - 1))
                if [ $xenlab_next -le 0 ]; then echo "xenlab: waiting for $* ($(xenlab_elapsed $xenlab_start) s)"; xenlab_next=60; fi
            done
            return 1
        }
        # The guest lines of xl dmesg: "(dN) …" from the HVM debug port 0xE9 (hvmloader, SeaBIOS, test guests).
        xenlab_guest_dmesg() { xl dmesg | grep -E '\\(d[1-9][0-9]*\\)'; }
        # xenlab_dump FILE...: each file between header lines.
        xenlab_dump() {
            for f in "$@"; do
                echo "----- $f"
                if [ -f "$f" ]; then cat "$f"; echo; else echo "(missing)"; fi
                echo "----- end of $f"
            done
        }
        # True while domain NAME exists.
        xenlab_domain_exists() { xl domid "$1" > /dev/null 2>&1; }
        # True when `xl list` succeeds without listing domain NAME. Not `xl domid`, whose failure
        # cannot be told from a crash: xl was seen segfaulting now and then in this dom0.
        xenlab_domain_gone() {
            xenlab_list=$(xl list 2> /dev/null) || return 1
            ! echo "$xenlab_list" | awk 'NR > 1 { print $1 }' | grep -qx "$1"
        }
        # True when FILE exists and is not empty.
        xenlab_nonempty() { [ -s "$1" ]; }
        # PIDs of running swiftdm processes (none: empty).
        xenlab_swiftdm_pids() { pidof swiftdm; }
        """

    /// The runner for `scenarios`, in order.
    static func runner(for scenarios: [XenLabScenario]) -> String {
        var lines = [". \(XenLabPaths.functions)"]
        for s in scenarios {
            let seconds = Int(s.timeout.components.seconds)
            lines += [
                "echo \"\(beginMarker) \(s.name)\"",
                "xl dmesg -c > /dev/null 2>&1",
                "start=$(xenlab_uptime)",
                // A session of its own, so the watchdog can kill the script with everything it started.
                "(cd /root && exec setsid sh -c '. \(XenLabPaths.functions); . \(XenLabPaths.scenarioScript(s.name))') < /dev/null 2>&1 &",
                "pid=$!",
                "( sleep \(seconds); kill -9 -$pid 2>/dev/null || kill -9 $pid 2>/dev/null; echo 'xenlab: \(s.name) killed after \(seconds) s' ) &",
                "watchdog=$!",
                "wait $pid",
                "status=$?",
                "kill $watchdog 2>/dev/null",
                "took=$(xenlab_elapsed \"$start\")",
                "for d in $(xl list 2>/dev/null | awk 'NR > 1 && $1 != \"Domain-0\" { print $1 }'); do",
                "  echo \"xenlab: destroyed leftover domain $d\"; xl destroy \"$d\" 2>&1",
                "done",
                "echo \"\(endMarker) \(s.name) status=$status seconds=$took\"",
            ]
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
