import Foundation

/// The test guest's `/init` and the console markers it prints, shared by the guest kit, its
/// runners, `swiftdm demo` and the real-Linux tests.
///
/// `/init` mounts `/proc`, `/sys`, `/dev` and `/tmp`, loads the kit's modules, starts the
/// power-button handler (``GuestPowerButton``), prints ``readyMarker``, runs the script
/// carried in ``commandParameter`` (or a shell when there is none), prints ``exitMarker`` with
/// the script's status and powers off.
public enum GuestInit {
    /// Printed once the modules are loaded: `SWIFTDM-READY uptime=<seconds>`.
    public static let readyMarker = "SWIFTDM-READY"
    /// Printed after the command: `SWIFTDM-EXIT status=<n> uptime=<seconds>`.
    public static let exitMarker = "SWIFTDM-EXIT"
    /// Kernel command-line parameter carrying the command, base64-encoded (no spaces survive
    /// the command line otherwise). Without it `/init` starts a shell on the console.
    public static let commandParameter = "swiftdm.cmd"
    /// Where the ordered module list lives in the initrd.
    static let moduleListPath = "etc/swiftdm/modules"

    /// The kernel command-line argument that makes the guest run `script` with `sh`.
    public static func commandArgument(_ script: String) -> String {
        "\(commandParameter)=\(Data(script.utf8).base64EncodedString())"
    }

    /// The `/init` shell script.
    static let script = """
        #!/bin/sh
        # swiftdm guest kit init: mount, load modules, start acpid, run the requested command, power off.
        export PATH=/bin:/sbin:/usr/bin:/usr/sbin
        export LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu
        mount -t proc proc /proc
        mount -t sysfs sysfs /sys
        mount -t devtmpfs devtmpfs /dev 2>/dev/null
        mkdir -p /tmp /run
        mount -t tmpfs tmpfs /tmp
        for m in $(cat /\(moduleListPath)); do
            insmod /lib/modules/$m.ko || echo "swiftdm-init: insmod $m failed"
        done
        \(GuestPowerButton.startLines)
        echo "\(readyMarker) uptime=$(cut -d' ' -f1 /proc/uptime)"
        # Boot complete, as Firecracker's boot timer takes it: 123 to I/O port 0x3f0. Quietly: on
        # other machines nothing listens there, and QEMU's TCG faults the port write of an
        # L2 guest (a nested-SVM quirk; the signal is swiftdm's, checked by its --timings tests).
        ( /\(BootCompleteProgram.path) ) 2>/dev/null
        cmd=""
        for arg in $(cat /proc/cmdline); do
            case "$arg" in \(commandParameter)=*) cmd="${arg#\(commandParameter)=}" ;; esac
        done
        if [ -n "$cmd" ]; then
            echo "$cmd" | base64 -d > /run/command.sh
            sh /run/command.sh
            status=$?
        else
            setsid cttyhack sh
            status=$?
        fi
        echo "\(exitMarker) status=$status uptime=$(cut -d' ' -f1 /proc/uptime)"
        sync
        poweroff -f
        """
}
