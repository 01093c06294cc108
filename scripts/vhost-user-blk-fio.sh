#!/usr/bin/env bash
# The same guest's fio numbers on one image, served once by swiftdm's virtio-blk
# (`swiftdm vhost-user --blk`) and once by qemu-storage-daemon's vhost-user-blk export.
# Debian cloud kernel under QEMU (TCG unless the host's KVM runs guests natively).
#
#   scripts/vhost-user-blk-fio.sh [RUNTIME_SECONDS]      (default 10 per fio job)
#
# Needs qemu-system-x86, qemu-utils (qemu-storage-daemon), fio on the host (copied into the
# guest by `swiftdm guest-kit`). Builds swiftdm in release mode if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNTIME=${1:-10}
SWIFTDM=${SWIFTDM:-.build/release/swiftdm}
[ -x "$SWIFTDM" ] || swift build -c release --product swiftdm >&2
KIT=${SWIFTDM_GUEST_KIT:-${XDG_CACHE_HOME:-$HOME/.cache}/swiftdm/guest-kit}
"$SWIFTDM" guest-kit --out "$KIT" >/dev/null
[ -f "$KIT/initrd-tools.img" ] || { echo "no fio in the guest kit: apt-get install fio iperf3" >&2; exit 1; }

WORK=$(mktemp -d /tmp/sdm-fio-XXXXXX)
BACKEND_PID=""
cleanup() { [ -n "$BACKEND_PID" ] && kill "$BACKEND_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
IMG=$WORK/disk.img
truncate -s 1G "$IMG"
SOCK=$WORK/blk.sock

if [ -r /dev/kvm ] && [ ! -e /sys/module/kvm_pvm ]; then ACCEL="-accel kvm -cpu host"; else ACCEL="-accel tcg,thread=multi -cpu max"; fi

GUEST=$(cat <<'G'
for job in "randread 4k" "randwrite 4k" "randrw 4k" "read 1m" "write 1m"; do
  set -- $job
  fio --name=$1-$2 --filename=/dev/vda --rw=$1 --bs=$2 --direct=1 --ioengine=libaio --iodepth=16 \
      --size=512m --runtime=RUNTIME --time_based --group_reporting --output-format=terse --terse-version=3 \
      | awk -F';' -v n="$1-$2" '{ printf "FIO %s read_iops=%d read_kib_s=%d write_iops=%d write_kib_s=%d\n", n, $8, $7, $49, $48 }'
done
G
)
GUEST=${GUEST//RUNTIME/$RUNTIME}
CMD=$(printf '%s' "$GUEST" | base64 -w0)

wait_for_socket() { for _ in $(seq 100); do [ -S "$SOCK" ] && return 0; sleep 0.1; done; echo "backend did not listen on $SOCK" >&2; exit 1; }

run_guest() {
  qemu-system-x86_64 $ACCEL -M q35 -m 1024 -smp 2 -nographic -no-reboot -nic none \
    -object memory-backend-memfd,id=mem,size=1024M,share=on -numa node,memdev=mem \
    -kernel "$KIT/vmlinuz" -initrd "$KIT/initrd-tools.img" \
    -append "console=ttyS0 quiet panic=-1 swiftdm.cmd=$CMD" \
    -chardev socket,id=c0,path="$SOCK" -device vhost-user-blk-pci,chardev=c0,num-queues=1,queue-size=256 \
    | tr -d '\r' | grep '^FIO ' | sed "s/^FIO /$1 /"
}

echo "# accel: ${ACCEL%% -cpu*}; fio: libaio iodepth=16, ${RUNTIME}s per job, 1 GiB raw image" >&2
"$SWIFTDM" vhost-user --socket "$SOCK" --blk "$IMG" 2>"$WORK/swiftdm.log" &
BACKEND_PID=$!
wait_for_socket
run_guest swiftdm
kill -TERM "$BACKEND_PID"; wait "$BACKEND_PID" || true; BACKEND_PID=""
rm -f "$SOCK"

qemu-storage-daemon --blockdev driver=file,filename="$IMG",node-name=d0 \
  --export type=vhost-user-blk,id=e0,node-name=d0,addr.type=unix,addr.path="$SOCK",writable=on \
  2>"$WORK/qsd.log" &
BACKEND_PID=$!
wait_for_socket
run_guest qemu-storage-daemon
