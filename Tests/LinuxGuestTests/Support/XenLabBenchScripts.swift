import GuestKit

/// The dom0 scripts of ``XenLabBench``'s scenarios. Each prints `key=value` lines the tests
/// read (``XenLabScenarioResult/reported(_:)``), and on the way everything a failure needs:
/// libxl's `xl create` log, the device model's log, the guest's serial console (`serial| `
/// lines) and its debug-port lines from `xl dmesg` (`guest-dmesg: `).
enum XenLabBenchScripts {
    /// Lines writing `config` to `/tmp/NAME.cfg`.
    static func writeConfig(_ config: XenGuestConfig) -> String {
        "cat > /tmp/\(config.name).cfg <<'XENLAB_CFG'\n\(config.text)XENLAB_CFG\necho \"config:\"; sed 's/^/  /' /tmp/\(config.name).cfg"
    }

    /// Creates the domain (`-p`: paused) and prints `create_status` and `create_seconds`; `t0`
    /// is the dom0 uptime before `xl create`.
    static func create(_ config: XenGuestConfig, paused: Bool = false) -> String {
        """
        t0=$(xenlab_uptime)
        xl create \(paused ? "-p " : "")/tmp/\(config.name).cfg > /tmp/xl-\(config.name).log 2>&1
        create_status=$?
        echo "create_status=$create_status"
        echo "create_seconds=$(xenlab_elapsed $t0)"
        """
    }

    // Waits are generous: under `.ci/run` the lab shares two cores with the other suites
    // (the nested-KVM lab among them), and QEMU's TCG then runs a guest's firmware several
    // times slower than on a quiet machine.

    /// Waits for the domain to go (power-off → destroy) and, with `swiftdm`, for no swiftdm
    /// process to remain; destroys it when it stays and says so.
    static func awaitEnd(_ config: XenGuestConfig, seconds: Int, swiftdm: Bool) -> String {
        var lines = [
            "if xenlab_wait \(seconds) xenlab_domain_gone \(config.name); then echo \"domain=gone\"; echo \"gone_seconds=$(xenlab_elapsed $t0)\"",
            "else echo \"domain=still-there\"; xl list; xl destroy \(config.name); echo \"destroy_status=$?\"; fi",
        ]
        if swiftdm {
            lines += [
                "no_swiftdm() { [ -z \"$(xenlab_swiftdm_pids)\" ]; }",
                "xenlab_wait 15 no_swiftdm",
                "echo \"swiftdm_processes=$(xenlab_swiftdm_pids | wc -w)\"",
                "ps | grep '[/]usr/local/bin/swiftdm' | sed 's/^/process: /'",
            ]
        }
        return lines.joined(separator: "\n")
    }

    /// The logs a failure needs.
    static func dumpLogs(_ config: XenGuestConfig) -> String {
        """
        xenlab_dump /tmp/xl-\(config.name).log \(XenLabPaths.deviceModelLog(config.name))
        xenlab_guest_dmesg | tail -n 60 | sed 's/^/guest-dmesg: /'
        """
    }

    /// (a) qemu-xen's HVM firmware: hvmloader and SeaBIOS run to "No bootable device".
    static func seabios() -> XenLabScenario {
        var config = XenGuestConfig(name: "qxseabios")
        config.memoryMiB = 128
        config.operatingSystem = false
        let script = """
            \(writeConfig(config))
            \(create(config))
            firmware_done() { xl dmesg | grep -q 'No bootable device' || xenlab_domain_gone \(config.name); }
            [ $create_status = 0 ] && xenlab_wait 360 firmware_done
            if xl dmesg | grep -q 'No bootable device'; then echo "firmware=no-bootable-device"; echo "firmware_seconds=$(xenlab_elapsed $t0)"; else echo "firmware=not-reached"; fi
            xl destroy \(config.name)
            \(dumpLogs(config))
            """
        return XenLabScenario(name: "qemu-xen-seabios", script: script, timeout: .seconds(480))
    }

    /// (b) and its qemu-xen reference: SeaBIOS boots Tests/Guests/xen-mbr.asm from a
    /// virtio-blk disk; it prints its checksum through port 0xE9, writes sector 100 and powers off.
    static func mbr(name: String, deviceModel: String?, image: XenLabScenario.File) -> XenLabScenario {
        var config = XenGuestConfig(name: name.replacingOccurrences(of: "-", with: ""), deviceModel: deviceModel, deviceModelArguments: [
            "-drive", "file=\(image.dom0Path),if=none,id=d0,format=raw", "-device", "virtio-blk-pci,drive=d0",
        ])
        config.memoryMiB = 128
        config.operatingSystem = false
        let script = """
            \(writeConfig(config))
            \(create(config))
            mbr_done() { xenlab_guest_dmesg | grep -q 'XENMBR: powering off\\|No bootable device' || xenlab_domain_gone \(config.name); }
            [ $create_status = 0 ] && xenlab_wait 360 mbr_done
            xenlab_guest_dmesg | grep -q 'XENMBR: powering off' && echo "mbr_seconds=$(xenlab_elapsed $t0)"
            sum=$(xenlab_guest_dmesg | grep -o 'XENMBR: checksum [0-9A-F]*' | tail -n 1 | awk '{ print $3 }')
            echo "checksum=${sum:-none}"
            if xenlab_guest_dmesg | grep -q 'XENMBR: wrote sector 100'; then echo "write=ok"; else echo "write=none"; fi
            \(awaitEnd(config, seconds: 60, swiftdm: deviceModel != nil))
            echo "sector100_patterns=$(dd if=\(image.dom0Path) bs=512 skip=100 count=1 2>/dev/null | grep -o 'XENMBR-WRITE-OK ' | wc -l)"
            \(dumpLogs(config))
            """
        return XenLabScenario(name: name, script: script, files: [image], timeout: .seconds(600))
    }

    /// The guest's progress on its serial console, and the end of the run: times from
    /// `xl create` to the first serial line, to `/init` (SWIFTDM-READY) and to the script's end.
    static func followLinux(_ config: XenGuestConfig, swiftdm: Bool) -> String {
        let serial = config.serialLog
        let name = config.name
        return """
            first_line() { [ -s \(serial) ] && [ "$(wc -l < \(serial))" -ge 1 ] || xenlab_domain_gone \(name); }
            ready() { grep -aq \(GuestInit.readyMarker) \(serial) 2>/dev/null || xenlab_domain_gone \(name); }
            finished() { grep -aq \(GuestInit.exitMarker) \(serial) 2>/dev/null || xenlab_domain_gone \(name); }
            # Each stage waits only when the one before was reached: a stuck guest costs one wait.
            if [ $create_status = 0 ] && xenlab_wait 420 first_line && [ -s \(serial) ]; then
                echo "first_line_seconds=$(xenlab_elapsed $t0)"
                if xenlab_wait 300 ready && grep -aq \(GuestInit.readyMarker) \(serial); then
                    echo "ready_seconds=$(xenlab_elapsed $t0)"
                    has_exit() { grep -aq \(GuestInit.exitMarker) \(serial); }
                    xenlab_wait 300 finished; xenlab_wait 5 has_exit && echo "exit_seconds=$(xenlab_elapsed $t0)"
                else
                    echo "ready=none"
                fi
            else
                echo "first_line=none"
            fi
            \(awaitEnd(config, seconds: 60, swiftdm: swiftdm))
            echo "xl_list_has_domain=$(xl list | grep -c '^\(name) ')"
            if [ -f \(serial) ]; then tr -d '\\r' < \(serial) | sed 's/^/serial| /'; else echo "serial-log=missing"; fi
            """
    }

    /// A data disk's head after the run: `head_after=` the bytes at the pattern's sector.
    /// Also each MiB's hash of the image's random part (`image_mibN=`), to compare with the guest's.
    static func headAfter(_ data: XenLabScenario.File) -> String {
        """
        echo "head_after=$(dd if=\(data.dom0Path) bs=512 skip=\(XenLabBench.patternSector) count=1 2>/dev/null | head -c \(XenLabBench.pattern.utf8.count))"
        for i in 0 1 2 3; do echo "image_mib$i=$(dd if=\(data.dom0Path) bs=1M skip=$i count=1 2>/dev/null | sha256sum | cut -c1-16)"; done
        """
    }

    /// (a) with qemu-xen, (c) with swiftdm: the guest kit's Linux from the syslinux disk, a
    /// random data disk and virtio-rng, all on virtio-pci from the device model's arguments.
    static func linux(name: String, deviceModel: String?, boot: XenLabScenario.File, data: XenLabScenario.File) -> XenLabScenario {
        var config = XenGuestConfig(name: name.replacingOccurrences(of: "-", with: ""), deviceModel: deviceModel, deviceModelArguments: [
            "-drive", "file=\(boot.dom0Path),if=none,id=boot,format=raw", "-device", "virtio-blk-pci,drive=boot",
            "-drive", "file=\(data.dom0Path),if=none,id=data,format=raw", "-device", "virtio-blk-pci,drive=data",
            "-device", "virtio-rng-pci",
        ])
        config.memoryMiB = 256
        let script = """
            \(writeConfig(config))
            \(create(config))
            \(followLinux(config, swiftdm: deviceModel != nil))
            \(headAfter(data))
            \(dumpLogs(config))
            """
        return XenLabScenario(name: name, script: script, files: [boot, data], timeout: .seconds(1080))
    }

    /// (d) swiftdm beside qemu-xen: a paused qemu-xen guest booting the syslinux disk from
    /// qemu-xen's virtio-blk (slot 3), `swiftdm xen` attached as a second ioreq server with a
    /// virtio disk (its slots start at 4), then unpaused.
    static func beside(boot: XenLabScenario.File, data: XenLabScenario.File) -> XenLabScenario {
        var config = XenGuestConfig(name: "besideqx", deviceModelArguments: [
            "-drive", "file=\(boot.dom0Path),if=none,id=boot,format=raw", "-device", "virtio-blk-pci,drive=boot,addr=0x3",
        ])
        config.memoryMiB = 256
        let script = """
            \(writeConfig(config))
            \(create(config, paused: true))
            domid=$(xl domid \(config.name) 2>/dev/null); echo "domid=${domid:-none}"
            \(XenLabPaths.swiftdm) xen --domid "$domid" --disk \(data.dom0Path) > /tmp/swiftdm-beside.log 2>&1 &
            sdm=$!
            serving() { grep -q 'serving domain' /tmp/swiftdm-beside.log || ! kill -0 $sdm 2>/dev/null; }
            xenlab_wait 180 serving
            if grep -q 'serving domain' /tmp/swiftdm-beside.log; then echo "swiftdm=serving"; else echo "swiftdm=not-serving"; fi
            xl unpause \(config.name); echo "unpause_status=$?"
            \(followLinux(config, swiftdm: false))
            sdm_gone() { ! kill -0 $sdm 2>/dev/null; }
            if xenlab_wait 30 sdm_gone; then wait $sdm; echo "swiftdm_status=$?"; else echo "swiftdm_status=still-running"; kill $sdm; fi
            \(headAfter(data))
            xenlab_dump /tmp/swiftdm-beside.log
            \(dumpLogs(config))
            """
        return XenLabScenario(name: "swiftdm-beside-qemu-xen", script: script, files: [boot, data], timeout: .seconds(1080))
    }

    /// `xl save` then `xl restore` of a Linux guest on swiftdm: the guest counts once a second,
    /// writing each count to its data disk (fsync'd); it is saved at count 5 (the domain and
    /// swiftdm go), restored (a new swiftdm loads the device state from `-incoming fd:N`) and
    /// counts on to the end, then reads the counts back from the disk.
    static func saveRestore(name scenario: String = "swiftdm-save-restore", deviceModel: String? = XenLabPaths.swiftdm,
                            boot: XenLabScenario.File, data: XenLabScenario.File) -> XenLabScenario {
        moveCountingGuest(name: scenario, deviceModel: deviceModel, boot: boot, data: data, move: { name, serial in
            """
            ts=$(xenlab_uptime)
            xl save \(name) /tmp/\(name).save > /tmp/xl-save-\(name).log 2>&1
            echo "save_status=$?"
            echo "save_seconds=$(xenlab_elapsed $ts)"
            echo "save_bytes=$(wc -c < /tmp/\(name).save)"
            echo "saved_at=$(tr -d '\\r' < \(serial) | grep '^count ' | tail -n 1 | cut -d' ' -f2)"
            echo "domain_after_save=$(xl list | grep -c '^\(name) ')"
            no_sdm() { [ -z "$(xenlab_swiftdm_pids)" ]; }
            xenlab_wait 15 no_sdm; echo "swiftdm_after_save=$(xenlab_swiftdm_pids | wc -w)"
            cp \(XenLabPaths.deviceModelLog(name)) /tmp/dm-before-move.log 2>/dev/null
            tr=$(xenlab_uptime)
            xl restore /tmp/\(name).save > /tmp/xl-restore-\(name).log 2>&1
            echo "restore_status=$?"
            echo "restore_seconds=$(xenlab_elapsed $tr)"
            """
        }, logs: { name in "/tmp/xl-save-\(name).log /tmp/xl-restore-\(name).log" })
    }

    /// `xl migrate` of the counting guest on swiftdm to the same host (`-s ""`: xl runs
    /// `xl migrate-receive` itself instead of over ssh), live: memory is sent while the guest
    /// runs and writes, so every page swiftdm writes must reach Xen's dirty log
    /// (`modified_memory`); the receiving swiftdm loads the device state from `-incoming`.
    static func migrate(boot: XenLabScenario.File, data: XenLabScenario.File) -> XenLabScenario {
        moveCountingGuest(name: "swiftdm-migrate", deviceModel: XenLabPaths.swiftdm, boot: boot, data: data, move: { name, serial in
            """
            cp \(XenLabPaths.deviceModelLog(name)) /tmp/dm-before-move.log 2>/dev/null
            ts=$(xenlab_uptime)
            xl migrate -s "" \(name) "xl migrate-receive" > /tmp/xl-migrate-\(name).log 2>&1
            echo "migrate_status=$?"
            echo "migrate_seconds=$(xenlab_elapsed $ts)"
            echo "migrated_at=$(tr -d '\\r' < \(serial) | grep '^count ' | tail -n 1 | cut -d' ' -f2)"
            echo "domains_after_migrate=$(xl list | grep -c '^\(name) ')"
            echo "swiftdm_after_migrate=$(xenlab_swiftdm_pids | wc -w)"
            """
        }, logs: { name in "/tmp/xl-migrate-\(name).log \(XenLabPaths.deviceModelLog(name + "--incoming"))" })
    }

    /// The counting guest (``XenLabBench/saveRestoreScript``) created, moved by `move` once it
    /// counted to 5, followed to its end; then what the device model left in the image.
    private static func moveCountingGuest(name scenario: String, deviceModel: String?, boot: XenLabScenario.File, data: XenLabScenario.File,
                                          move: (_ name: String, _ serial: String) -> String,
                                          logs: (_ name: String) -> String) -> XenLabScenario {
        var config = XenGuestConfig(name: scenario == "swiftdm-save-restore" ? "swiftdmsave" : scenario.replacingOccurrences(of: "-", with: ""),
                                    deviceModel: deviceModel, deviceModelArguments: [
            "-drive", "file=\(boot.dom0Path),if=none,id=boot,format=raw", "-device", "virtio-blk-pci,drive=boot",
            "-drive", "file=\(data.dom0Path),if=none,id=data,format=raw", "-device", "virtio-blk-pci,drive=data",
            "-device", "virtio-rng-pci",
        ])
        config.memoryMiB = 256
        let serial = config.serialLog
        let name = config.name
        let script = """
            \(writeConfig(config))
            \(create(config))
            # Only the guest's own count says it runs (xl list has been seen to fail now and then).
            counted() { tr -d '\\r' < \(serial) 2>/dev/null | grep -q '^count 5$'; }
            # Judged by the wait, not by one more look: dom0's own programs crash now and then here.
            if [ $create_status = 0 ] && xenlab_wait 600 counted; then echo "count5=reached"; else echo "count5=not-reached"; xl list; fi
            \(move(name, serial))
            finished() { grep -aq \(GuestInit.exitMarker) \(serial) 2>/dev/null || xenlab_domain_gone \(name); }
            xenlab_wait 480 finished
            \(awaitEnd(config, seconds: 60, swiftdm: deviceModel != nil))
            # What the device model left in the image file (the guest's reads aside).
            seq=""; j=1
            while [ $j -le \(XenLabBench.saveRestoreCounts) ]; do
                seq="$seq$(dd if=\(data.dom0Path) bs=512 skip=$((1000 + j)) count=1 2>/dev/null | tr -d '\\000' | cut -d' ' -f2 | tr -d '\\n'),"
                j=$((j+1))
            done
            echo "image_sequence=$seq"
            tr -d '\\r' < \(serial) | sed 's/^/serial| /'
            xenlab_dump /tmp/dm-before-move.log \(logs(name))
            \(dumpLogs(config))
            """
        return XenLabScenario(name: scenario, script: script, files: [boot, data], timeout: .seconds(1500))
    }
}
