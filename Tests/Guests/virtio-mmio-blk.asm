; A polled virtio-blk driver over virtio-mmio (virtio 1.2 §4.2): finds the first virtio-mmio
; block device in the machine's virtio-mmio window, initialises it (§3.1.1), and runs
; blk_exercise (virtio-blk.inc).
%include "unreal.inc"
%include "virtio-blk.inc"

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
%define REG_INT_STATUS   0x060
%define REG_INT_ACK      0x064
%define REG_STATUS       0x070
%define REG_DESC_LO      0x080
%define REG_DESC_HI      0x084
%define REG_DRIVER_LO    0x090
%define REG_DRIVER_HI    0x094
%define REG_DEVICE_LO    0x0A0
%define REG_DEVICE_HI    0x0A4
%define REG_CONFIG       0x100

main:
        ; find the device
        mov ebp, MMIO_BASE
        mov cx, MMIO_SLOTS
.scan:  cmp dword [ebp + REG_MAGIC], 0x74726976      ; "virt"
        jne .next
        cmp dword [ebp + REG_VERSION], 2
        jne .next
        cmp dword [ebp + REG_DEVICE_ID], 2              ; block
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

        ; §3.1.1: reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK, queues, DRIVER_OK
        mov dword [ebp + REG_STATUS], 0
        mov dword [ebp + REG_STATUS], 1
        mov dword [ebp + REG_STATUS], 3
        mov dword [ebp + REG_DEV_FEAT_SEL], 1
        test dword [ebp + REG_DEV_FEAT], 1              ; VIRTIO_F_VERSION_1 (bit 32)
        jz .fail
        mov dword [ebp + REG_DRV_FEAT_SEL], 1
        mov dword [ebp + REG_DRV_FEAT], 1
        mov dword [ebp + REG_DRV_FEAT_SEL], 0
        mov dword [ebp + REG_DRV_FEAT], 0
        mov dword [ebp + REG_STATUS], 11
        test dword [ebp + REG_STATUS], 8
        jz .fail

        call vq_init
        mov dword [ebp + REG_QUEUE_SEL], 0
        cmp dword [ebp + REG_QUEUE_MAX], VQ_SIZE
        jb .fail
        mov dword [ebp + REG_QUEUE_NUM], VQ_SIZE
        mov dword [ebp + REG_DESC_LO], VQ_DESC
        mov dword [ebp + REG_DESC_HI], 0
        mov dword [ebp + REG_DRIVER_LO], VQ_AVAIL
        mov dword [ebp + REG_DRIVER_HI], 0
        mov dword [ebp + REG_DEVICE_LO], VQ_USED
        mov dword [ebp + REG_DEVICE_HI], 0
        mov dword [ebp + REG_QUEUE_READY], 1
        mov dword [ebp + REG_STATUS], 15

        mov si, SEG_OFF(capacity_msg)
        call puts
        mov eax, [ebp + REG_CONFIG]                     ; capacity in 512-byte sectors (low half)
        call puthex
        call putnl

        call blk_exercise
        mov eax, [ebp + REG_INT_STATUS]                 ; acknowledge what the device raised
        mov [ebp + REG_INT_ACK], eax
        mov al, 0
        ret

.fail:  mov si, SEG_OFF(fail_msg)
        call puts
        mov eax, [ebp + REG_STATUS]
        call puthex
        call putnl
        mov al, 2
        ret

notify:
        mov dword [ebp + REG_QUEUE_NOTIFY], 0
        ret

found_msg:    db "virtio-mmio blk at ", 0
none_msg:     db "no virtio-mmio block device", 10, 0
capacity_msg: db "capacity ", 0
fail_msg:     db "device refused initialisation, status ", 0

%include "reset.inc"
