; A polled virtio-net driver over virtio-mmio (virtio 1.2 §4.2, §5.1): finds the first
; virtio-mmio network device in the machine's virtio-mmio window, initialises it (§3.1.1) with
; VIRTIO_F_VERSION_1 and VIRTIO_NET_F_MAC, and runs net_exercise (virtio-net.inc): one frame
; out, one frame in.
%include "unreal.inc"
%include "virtio-net.inc"

%ifndef MMIO_BASE
%define MMIO_BASE   0xD0000000          ; swiftdm's virtio-mmio window (X86MemoryLayout)
%endif
%ifndef MMIO_STRIDE
%define MMIO_STRIDE 0x1000
%endif
%ifndef MMIO_SLOTS
%define MMIO_SLOTS  13
%endif

%define REG_MAGIC        0x000
%define REG_VERSION      0x004
%define REG_DEVICE_ID    0x008
%define REG_DEV_FEAT     0x010
%define REG_DEV_FEAT_SEL 0x014
%define REG_DRV_FEAT     0x020
%define REG_DRV_FEAT_SEL 0x024
%define REG_QUEUE_SEL    0x030
%define REG_QUEUE_MAX    0x034
%define REG_QUEUE_NUM    0x038
%define REG_QUEUE_READY  0x044
%define REG_QUEUE_NOTIFY 0x050
%define REG_STATUS       0x070
%define REG_DESC_LO      0x080
%define REG_DESC_HI      0x084
%define REG_DRIVER_LO    0x090
%define REG_DRIVER_HI    0x094
%define REG_DEVICE_LO    0x0A0
%define REG_DEVICE_HI    0x0A4
%define REG_CONFIG       0x100

main:
        mov ebp, MMIO_BASE
        mov cx, MMIO_SLOTS
.scan:  cmp dword [ebp + REG_MAGIC], 0x74726976      ; "virt"
        jne .next
        cmp dword [ebp + REG_VERSION], 2
        jne .next
        cmp dword [ebp + REG_DEVICE_ID], 1              ; network
        je .found
.next:  add ebp, MMIO_STRIDE
        loop .scan
        mov si, SEG_OFF(none_msg)
        call puts
        mov al, 1
        ret

.found: mov si, SEG_OFF(found_msg)
        call puts
        mov eax, ebp
        call puthex
        call putnl

        NET_NEGOTIATE REG_STATUS, REG_DEV_FEAT_SEL, REG_DEV_FEAT, REG_DRV_FEAT_SEL, REG_DRV_FEAT, dword
        call net_queues
        jc .fail
        mov dword [ebp + REG_STATUS], 15

        lea esi, [ebp + REG_CONFIG]
        call net_read_mac

        call net_exercise
        mov al, 0
        ret

.fail:  mov si, SEG_OFF(fail_msg)
        call puts
        mov eax, [ebp + REG_STATUS]
        call puthex
        call putnl
        mov al, 2
        ret

; setup_queue (for virtio-net.inc): queue eax, rings at ebx (+0x80, +0x100).
setup_queue:
        mov [ebp + REG_QUEUE_SEL], eax
        cmp dword [ebp + REG_QUEUE_MAX], NETQ_SIZE
        jb .small
        mov dword [ebp + REG_QUEUE_NUM], NETQ_SIZE
        mov [ebp + REG_DESC_LO], ebx
        mov dword [ebp + REG_DESC_HI], 0
        lea ecx, [ebx + 0x80]
        mov [ebp + REG_DRIVER_LO], ecx
        mov dword [ebp + REG_DRIVER_HI], 0
        lea ecx, [ebx + 0x100]
        mov [ebp + REG_DEVICE_LO], ecx
        mov dword [ebp + REG_DEVICE_HI], 0
        mov dword [ebp + REG_QUEUE_READY], 1
        clc
        ret
.small: stc
        ret

net_notify:
        movzx eax, ax
        mov [ebp + REG_QUEUE_NOTIFY], eax
        ret

found_msg:    db "virtio-mmio net at ", 0
none_msg:     db "no virtio-mmio network device", 10, 0
fail_msg:     db "device refused initialisation, status ", 0

%include "reset.inc"
