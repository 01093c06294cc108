; A hostile driver for virtio-blk over virtio-mmio (virtio 1.2 §4.2). It finds the device in
; the machine's virtio-mmio window, then abuses it the ways a guest can:
;   - writes to read-only registers (magic, version, IDs, features, QueueNumMax, InterruptStatus,
;     ConfigGeneration, the device configuration), to reserved offsets and past the
;     configuration, with byte and word accesses, and to a queue the device does not have;
;   - queue set-ups the device must refuse at DRIVER_OK (§2.1.2 DEVICE_NEEDS_RESET): a size that
;     is not a power of two, one above QueueNumMax, rings outside RAM, DRIVER_OK without
;     FEATURES_OK after making a queue ready before features;
;   - rings the running device must refuse (hostile-rings.inc);
; after each refusal it resets the device, and at the end it uses the device as a normal
; driver would (blk_exercise, polled). One line per step on the UART.
%include "unreal.inc"
%include "virtio-blk.inc"

%ifndef MMIO_BASE
%define MMIO_BASE   0xD0000000          ; swiftdm's virtio-mmio window (X86MemoryLayout)
%endif
%define MMIO_STRIDE 0x1000
%define MMIO_SLOTS  13

%define REG_MAGIC        0x000
%define REG_VERSION      0x004
%define REG_DEVICE_ID    0x008
%define REG_VENDOR_ID    0x00C
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
%define REG_CONFIG_GEN   0x0FC
%define REG_CONFIG       0x100

%define DEVICE      0xB000              ; dword: the device's register window
%define FAULTS      0xB0F4              ; byte: steps that went wrong
%define DESC_HI     0xB0FC              ; dword: high half of the next descriptor table address

main:
        mov ebp, MMIO_BASE
        mov cx, MMIO_SLOTS
.scan:  cmp dword [ebp + REG_MAGIC], 0x74726976         ; "virt"
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
.found: mov [DEVICE], ebp
        mov byte [FAULTS], 0
        mov dword [DESC_HI], 0
        mov si, SEG_OFF(found_msg)
        call puts
        mov eax, ebp
        call puthex
        call putnl

        ; --- read-only registers keep their value
        mov bx, SEG_OFF(ro_registers)
.ro:    movzx edi, word [cs:bx]
        cmp di, 0xFFFF
        je .rodone
        add edi, ebp
        mov eax, [edi]
        not eax
        mov [edi], eax
        not eax
        cmp [edi], eax
        je .same
        inc byte [FAULTS]
        mov si, SEG_OFF(changed_msg)
        call puts
.same:  add bx, 2
        jmp .ro
.rodone:
        mov si, SEG_OFF(ro_msg)
        call puts

        ; --- writes outside the registers, narrow writes, a queue that does not exist
        mov dword [ebp + 0x0F8], 0xFFFFFFFF             ; reserved
        mov dword [ebp + 0x1FC], 0xFFFFFFFF             ; past the configuration
        mov dword [ebp + 0xFFC], 0xFFFFFFFF             ; end of the window
        mov byte [ebp + REG_QUEUE_NUM + 1], 0xFF        ; narrow writes to 32-bit registers
        mov word [ebp + REG_DEV_FEAT_SEL + 2], 0xFFFF
        mov dword [ebp + REG_QUEUE_SEL], 7              ; no queue 7
        mov dword [ebp + REG_QUEUE_NUM], 8
        mov dword [ebp + REG_QUEUE_READY], 1
        mov si, SEG_OFF(junk_msg)
        call puts
        cmp dword [ebp + REG_QUEUE_MAX], 0
        jne .fault
        cmp dword [ebp + REG_QUEUE_READY], 0
        je .quiet
.fault: inc byte [FAULTS]
        mov si, SEG_OFF(accepted_msg)
        jmp .said
.quiet: mov si, SEG_OFF(ignored_msg)
.said:  call puts

        ; --- queue set-ups refused at DRIVER_OK
        mov ax, 3
        call setup_and_start
        mov si, SEG_OFF(size3_msg)
        call expect_needs_reset
        mov ax, 0x8000
        call setup_and_start
        mov si, SEG_OFF(sizemax_msg)
        call expect_needs_reset
        mov dword [DESC_HI], 0x100                      ; descriptor table at 1 TiB
        mov ax, 8
        call setup_and_start
        mov dword [DESC_HI], 0
        mov si, SEG_OFF(outside_msg)
        call expect_needs_reset
        call dev_reset                                  ; queue ready before features
        mov dword [ebp + REG_STATUS], 3
        mov ax, 8
        call queue_setup
        mov dword [ebp + REG_DRV_FEAT_SEL], 1           ; VERSION_1, but no FEATURES_OK
        mov dword [ebp + REG_DRV_FEAT], 1
        mov dword [ebp + REG_STATUS], 7
        mov si, SEG_OFF(nofeat_msg)
        call expect_needs_reset

        call run_ring_attacks

        ; --- and now a well-behaved driver
        mov ax, 8
        call setup_and_start
        call needs_reset_now
        jz .ready
        inc byte [FAULTS]
        mov si, SEG_OFF(early_msg)
        call puts
.ready: mov si, SEG_OFF(capacity_msg)
        call puts
        mov eax, [ebp + REG_CONFIG]
        call puthex
        call putnl
        call blk_exercise
        mov ebp, [DEVICE]
        mov eax, [ebp + REG_INT_STATUS]                 ; acknowledge what the device raised
        mov [ebp + REG_INT_ACK], eax
        mov si, SEG_OFF(faults_msg)
        call puts
        movzx eax, byte [FAULTS]
        call puthex
        call putnl
        mov al, [FAULTS]
        ret

; needs_reset_now: ZF clear when the device status has DEVICE_NEEDS_RESET.
needs_reset_now:
        mov ebp, [DEVICE]
        test dword [ebp + REG_STATUS], 0x40
        ret

; dev_reset: status 0, then waits until the device reads 0.
dev_reset:
        mov ebp, [DEVICE]
        mov dword [ebp + REG_STATUS], 0
.wait:  cmp dword [ebp + REG_STATUS], 0
        jne .wait
        ret

; setup_and_start: reset, ACKNOWLEDGE | DRIVER, VERSION_1 and INDIRECT_DESC, FEATURES_OK, queue
; 0 of size ax (descriptor table high half from DESC_HI), DRIVER_OK.
setup_and_start:
        push ax
        call dev_reset
        mov dword [ebp + REG_STATUS], 3
        mov dword [ebp + REG_DRV_FEAT_SEL], 1
        mov dword [ebp + REG_DRV_FEAT], 1
        mov dword [ebp + REG_DRV_FEAT_SEL], 0
        mov dword [ebp + REG_DRV_FEAT], 1 << 28
        mov dword [ebp + REG_STATUS], 11
        pop ax
        call queue_setup
        mov eax, [DESC_HI]
        mov [ebp + REG_DESC_HI], eax
        mov dword [ebp + REG_STATUS], 15
        ret

queue_setup:
        call vq_init
        mov dword [ebp + REG_QUEUE_SEL], 0
        movzx eax, ax
        mov [ebp + REG_QUEUE_NUM], eax
        mov dword [ebp + REG_DESC_LO], VQ_DESC
        mov dword [ebp + REG_DESC_HI], 0
        mov dword [ebp + REG_DRIVER_LO], VQ_AVAIL
        mov dword [ebp + REG_DRIVER_HI], 0
        mov dword [ebp + REG_DEVICE_LO], VQ_USED
        mov dword [ebp + REG_DEVICE_HI], 0
        mov dword [ebp + REG_QUEUE_READY], 1
        ret

; expect_needs_reset: prints the step named at cs:si, then polls (bounded) for
; DEVICE_NEEDS_RESET and says whether it came; resets the device.
expect_needs_reset:
        call puts
        mov ebp, [DEVICE]
        mov ecx, 200000
.poll:  test dword [ebp + REG_STATUS], 0x40
        jnz .yes
        a32 loop .poll
        inc byte [FAULTS]
        mov si, SEG_OFF(missing_msg)
        jmp .out
.yes:   mov si, SEG_OFF(needs_reset_msg)
.out:   call puts
        jmp dev_reset

notify:
        push ebp
        mov ebp, [DEVICE]
        mov dword [ebp + REG_QUEUE_NOTIFY], 0
        pop ebp
        ret

%include "hostile-rings.inc"

; Registers no write may change.
ro_registers:
        dw REG_MAGIC, REG_VERSION, REG_DEVICE_ID, REG_VENDOR_ID, REG_DEV_FEAT, REG_QUEUE_MAX
        dw REG_INT_STATUS, REG_CONFIG_GEN, REG_CONFIG, REG_CONFIG + 4, 0xFFFF

found_msg:    db "hostile virtio-mmio blk at ", 0
none_msg:     db "no virtio-mmio block device", 10, 0
ro_msg:       db "read-only registers kept", 10, 0
changed_msg:  db "read-only register changed", 10, 0
junk_msg:     db "reserved offsets, narrow writes, queue 7: ", 0
ignored_msg:  db "ignored", 10, 0
accepted_msg: db "accepted", 10, 0
size3_msg:    db "queue size 3: ", 0
sizemax_msg:  db "queue size 32768: ", 0
outside_msg:  db "rings outside RAM: ", 0
nofeat_msg:   db "DRIVER_OK without FEATURES_OK: ", 0
capacity_msg: db "capacity ", 0
faults_msg:   db "faults ", 0

%include "reset.inc"
