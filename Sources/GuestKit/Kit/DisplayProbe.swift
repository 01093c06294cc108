import Foundation

/// The graphics kit's guest side of a display and input test: a command for ``GuestInit`` that
/// waits for the framebuffer and the virtio input devices, draws a line on the framebuffer
/// console, prints ``readyMarker``, then reports every evdev event of the keyboard and the
/// tablet on the serial console until the stop key is released or the time runs out (after
/// which `/init` powers off). ``DisplayProbeReport`` parses what it prints.
///
/// Lines it prints, each on its own:
/// - `fb0=WxH` from `/sys/class/graphics/fb0/virtual_size`;
/// - `input event2 role=kbd name="QEMU Virtio Keyboard"` for each event device (`role` is `kbd`
///   or `tablet` for the virtio keyboard and tablet it reads, `other` for the rest);
/// - `DISPLAY-READY` once the console line is drawn and both devices are open;
/// - `ev kbd type=1 code=30 value=1` for each event but `EV_SYN`, from the 24-byte
///   `struct input_event` records (busybox `hexdump`);
/// - `DISPLAY-DONE stop-key` or `DISPLAY-DONE timeout`.
public enum DisplayProbe {
    /// Printed once the framebuffer console shows ``bannerLine(_:)`` and the event devices are
    /// open: from here on, input reaches the event lines.
    public static let readyMarker = "DISPLAY-READY"
    /// Printed when the probe stops reading events.
    public static let doneMarker = "DISPLAY-DONE"
    /// `KEY_ESC`: the default stop key.
    public static let escapeKeyCode = 1

    /// Kernel arguments for a screen that stays the same while the guest is idle: no blinking
    /// cursor (`vt.global_cursor_default=0`), so two captures match, and no console blanking.
    public static let kernelArguments = ["vt.global_cursor_default=0", "consoleblank=0"]

    /// The text the probe writes on the framebuffer console.
    public static func bannerLine(_ banner: String) -> String { "swiftdm display probe: \(banner)" }

    /// Where the graphics kit's initrd carries ``script``.
    public static let path = "/bin/display-probe"

    /// The command for ``GuestInit`` that runs the probe (the script itself is in the graphics
    /// kit's initrd at ``path``: at ~3 KiB, base64-encoded, it would overflow the kernel's
    /// 2 KiB command line, which Debian's kernel answers with a fortify panic in `start_kernel`).
    ///
    /// - Parameters:
    ///   - banner: The line's text after ``bannerLine(_:)``'s prefix.
    ///   - stopKeyCode: The Linux `KEY_*` code whose release ends the probe.
    ///   - timeoutSeconds: How long the probe reads events at most (guest time).
    ///   - deviceWaitSeconds: How long it waits for `/dev/fb0` and the event devices.
    public static func command(banner: String, stopKeyCode: Int = escapeKeyCode, timeoutSeconds: Int = 120,
                               deviceWaitSeconds: Int = 60) -> String {
        let line = "'" + bannerLine(banner).replacingOccurrences(of: "'", with: "'\\''") + "'"
        return "\(path) \(stopKeyCode) \(timeoutSeconds) \(deviceWaitSeconds) \(line)"
    }

    /// The probe: `display-probe STOP-KEY-CODE TIMEOUT-SECONDS DEVICE-WAIT-SECONDS LINE`.
    static let script = """
            #!/bin/sh
            # Display probe: framebuffer, console line, virtio keyboard and tablet events.
            stop_code=$1; timeout=$2; device_wait=$3; line=$4
            waited=0
            find_inputs() {
                kbd=""; tablet=""
                for d in /sys/class/input/event*; do
                    [ -e "$d/device/name" ] || continue
                    # Only the virtio devices (the PC's PS/2 keyboard and mouse are not asked about).
                    case "$(readlink -f "$d/device/device")" in */virtio[0-9]*) ;; *) continue ;; esac
                    if [ "$(cat "$d/device/capabilities/abs")" != "0" ]; then tablet=${d##*/}; else kbd=${d##*/}; fi
                done
            }
            find_inputs
            while { [ ! -e /dev/fb0 ] || [ -z "$kbd" ] || [ -z "$tablet" ]; } && [ $waited -lt $((device_wait * 10)) ]; do
                usleep 100000; waited=$((waited + 1)); find_inputs
            done
            if [ -e /sys/class/graphics/fb0/virtual_size ]; then
                echo "fb0=$(tr ',' 'x' < /sys/class/graphics/fb0/virtual_size)"
            else
                echo "fb0=missing"
            fi
            for d in /sys/class/input/event*; do
                [ -e "$d/device/name" ] || continue
                e=${d##*/}; role=other
                [ "$e" = "$kbd" ] && role=kbd
                [ "$e" = "$tablet" ] && role=tablet
                echo "input $e role=$role name=\\"$(cat "$d/device/name")\\""
            done
            if [ -z "$kbd" ] || [ -z "$tablet" ] || [ ! -e /dev/fb0 ]; then
                echo "display-probe: no framebuffer or no virtio keyboard and tablet after $device_wait s"
                exit 2
            fi
            # The line on the framebuffer console (tty1, fbcon's foreground console): clear, home.
            chvt 1 2>/dev/null
            printf '\\033[2J\\033[H%s\\n' "$line" > /dev/tty1
            # One event a read: evdev hands out whole events, and the device stays open across
            # reads (fd 3), so none are lost between them.
            read_events() {
                role=$1
                exec 3< /dev/input/$2
                touch /tmp/display-open-$role
                while :; do
                    ev=$(dd bs=24 count=1 <&3 2>/dev/null | hexdump -v -e '4/4 "%x" " " 1/2 "%u" " " 1/2 "%u" " " 1/4 "%d" "\\n"')
                    [ -n "$ev" ] || { echo "display-probe: reading $role stopped"; break; }
                    set -- $ev
                    [ "$2" = 0 ] && continue
                    echo "ev $role type=$2 code=$3 value=$4"
                    if [ "$role" = kbd ] && [ "$2" = 1 ] && [ "$3" = "$stop_code" ] && [ "$4" = 0 ]; then
                        touch /tmp/display-stop
                    fi
                done
            }
            read_events kbd "$kbd" &
            kbd_reader=$!
            read_events tablet "$tablet" &
            tablet_reader=$!
            while [ ! -e /tmp/display-open-kbd ] || [ ! -e /tmp/display-open-tablet ]; do usleep 50000; done
            # DRM's fbdev emulation draws into a shadow buffer and flushes it to the device
            # from a worker: let the console line reach the screen before anyone looks.
            sleep 1
            echo "\(readyMarker)"
            ticks=0
            while [ ! -e /tmp/display-stop ] && [ $ticks -lt $((timeout * 10)) ]; do usleep 100000; ticks=$((ticks + 1)); done
            # The release event's line comes before the marker; let the readers finish printing.
            usleep 200000
            if [ -e /tmp/display-stop ]; then echo "\(doneMarker) stop-key"; else echo "\(doneMarker) timeout"; fi
            kill $kbd_reader $tablet_reader 2>/dev/null
            """
}
