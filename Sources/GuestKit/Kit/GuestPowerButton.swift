import Foundation

/// How a guest-kit guest answers the ACPI power button (QMP `system_powerdown`, a host's
/// ACPI shutdown request) the way a distribution's Linux does: the kernel's `button` driver
/// turns the fixed-feature power-button event into a `KEY_POWER` press on an input device,
/// `evdev` exposes it as `/dev/input/eventN`, and busybox `acpid` runs ``handlerPath`` for it
/// (its built-in map: `KEY_POWER` → `PWRF` → `/etc/acpi/PWRF/00000080`).
///
/// The handler prints ``marker`` on the console and ends every process but init, as an
/// init's shutdown does; `/init` then takes its usual way out (``GuestInit/exitMarker``,
/// `sync`, ACPI power-off). So a guest that powers off after the button shows both lines, the
/// marker first.
public enum GuestPowerButton {
    /// Printed by the handler: `SWIFTDM-POWER-BUTTON uptime=<seconds>`.
    public static let marker = "SWIFTDM-POWER-BUTTON"

    /// Kernel modules it needs (both are modules in Debian's kernels: `CONFIG_ACPI_BUTTON=m`,
    /// `CONFIG_INPUT_EVDEV=m`).
    static let modules = ["button", "evdev"]

    /// The handler's path in the initrd (busybox `acpid`'s default configuration directory
    /// and its action name for the power button).
    static let handlerPath = "etc/acpi/PWRF/00000080"

    /// Lines of `/init` that start `acpid` once the modules are loaded — only when there is an
    /// event device (not in user-mode Linux, nor in a lab's L1 that loads other modules),
    /// since `acpid` exits at once without one. Its log goes to `/run`: the console carries
    /// only the handler's line.
    static let startLines = """
        if [ -e /dev/input/event0 ]; then
            acpid -c /etc/acpi -l /run/acpid.log -p /run/acpid.pid || echo "swiftdm-init: acpid did not start"
        fi
        """

    /// The handler (`acpid` runs it directly: it needs its `#!`). A command that ignores
    /// SIGTERM (an interactive shell does) is killed two seconds later.
    static let handler = """
        #!/bin/sh
        # swiftdm guest kit: the ACPI power button. Say so on the console, then end every
        # process but init (kill -1 spares init and this script); init powers off as after
        # any command.
        echo "\(marker) uptime=$(cut -d' ' -f1 /proc/uptime)" > /dev/console
        kill -TERM -1
        sleep 2
        kill -KILL -1
        """
}
