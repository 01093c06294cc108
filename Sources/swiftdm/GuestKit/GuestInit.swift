import Foundation

/// The test guest's `/init` and the console markers it prints, shared by the guest kit,
/// `swiftdm demo` and the real-Linux tests.
enum GuestInit {
    /// Printed once the modules are loaded: `SWIFTDM-READY uptime=<seconds>`.
    static let readyMarker = "SWIFTDM-READY"
    /// Printed after the command: `SWIFTDM-EXIT status=<n> uptime=<seconds>`.
    static let exitMarker = "SWIFTDM-EXIT"
    /// Kernel command-line parameter carrying the command, base64-encoded (no spaces survive
    /// the command line otherwise). Without it `/init` starts a shell on the console.
    static let commandParameter = "swiftdm.cmd"
    /// Where the ordered module list lives in the initrd.
    static let moduleListPath = "etc/swiftdm/modules"

    /// The kernel command-line argument that makes the guest run `script` with `sh`.
    static func commandArgument(_ script: String) -> String {
        "\(commandParameter)=\(Data(script.utf8).base64EncodedString())"
    }

    static let script = """
        #!/bin/sh
        # swiftdm guest kit init: mount, load virtio modules, run the requested command, power off.
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
        echo "\(readyMarker) uptime=$(cut -d' ' -f1 /proc/uptime)"
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
