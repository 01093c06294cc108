#!/usr/bin/env bash
# Installs the Debian packages swiftdm's build, demo and tests need — only those missing, so
# it is a quick no-op (no apt at all) on a machine that already has them.
# This is the one list of system packages; .ci/run, scripts/demo.sh and scripts/test.sh use it.
set -euo pipefail

packages=(
    # build: pkg-config finds GLib (the event loop), libxen (XenGlue) and liburing (the
    # io_uring block engine)
    pkg-config libglib2.0-dev libxen-dev libpixman-1-dev liburing-dev
    # zlib: the VNC server's ZRLE and PNG screenshots
    zlib1g-dev
    # demo and real-Linux tests: QEMU, SeaBIOS, user-mode Linux, the guest kit's tools
    qemu-system-x86 qemu-utils seabios user-mode-linux
    busybox-static fio iperf3 cpio kmod xz-utils zstd
    # test guests and ACPI table checks
    acpica-tools nasm gcc binutils
    # network tests
    iproute2 iputils-ping
    # the Xen lab's guest disks: a syslinux-bootable FAT image built without mounting
    syslinux syslinux-common mtools dosfstools
    # VNC and QMP tests: pip installs vncdotool and qemu.qmp (below), the real clients they drive
    python3 python3-pip
)

# dpkg-query prints one line per known package; anything not "ii" (installed, configured) is
# missing, including packages dpkg has never heard of (no line at all).
installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${packages[@]}" 2>/dev/null \
    | awk '$2 == "ii" { print $1 }' || true)
missing=()
for p in "${packages[@]}"; do
    if ! grep -qxF "$p" <<<"$installed"; then missing+=("$p"); fi
done

sudo=()
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then sudo=(sudo); fi

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} system packages are installed"
else
    if [ "$(id -u)" != 0 ] && [ "${#sudo[@]}" -eq 0 ]; then
        echo "install-deps: missing packages (${missing[*]}) and not root; install them or run as root" >&2
        exit 1
    fi
    echo "install-deps: installing ${missing[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# vncdotool (PyPI, not packaged by Debian): the VNC client DisplayOutputsTests run against
# the server. Installed system-wide so `vncdo` is on PATH for whoever runs the tests.
if command -v vncdo >/dev/null && python3 -c 'import vncdotool' 2>/dev/null; then
    echo "install-deps: vncdotool is installed"
else
    echo "install-deps: pip-installing vncdotool"
    # Debian 12's python3 is externally managed (PEP 668): pip refuses to install into it
    # unless told to; a python3 that is not (pyenv, a venv) takes the plain command.
    "${sudo[@]}" python3 -m pip install --quiet vncdotool \
        || "${sudo[@]}" python3 -m pip install --quiet --break-system-packages vncdotool
fi

# qemu.qmp (PyPI): QEMU's own QMP client library (async QMPClient, qmp-shell), which
# LauncherTests' RunQMPTests drive `swiftdm run --qmp` with.
if python3 -c 'import qemu.qmp' 2>/dev/null; then
    echo "install-deps: qemu.qmp is installed"
else
    echo "install-deps: pip-installing qemu.qmp"
    "${sudo[@]}" python3 -m pip install --quiet qemu.qmp \
        || "${sudo[@]}" python3 -m pip install --quiet --break-system-packages qemu.qmp
fi
