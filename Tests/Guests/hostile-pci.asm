; A hostile driver for virtio-blk over modern virtio-pci. Acting as the machine's firmware, it
; finds and places the device (virtio-pci.inc), then abuses it the ways a guest can:
;   - writes to read-only registers: virtio common configuration, device configuration, PCI
;     identification and capability fields, the MSI-X pending bits;
;   - BARs sized, moved onto guest RAM and on top of each other, decoding switched off;
;   - queue set-ups the device must refuse at DRIVER_OK (§2.1.2 DEVICE_NEEDS_RESET): a size that
;     is not a power of two, one above the maximum, rings outside RAM, DRIVER_OK without
;     FEATURES_OK after enabling a queue before features;
;   - rings the running device must refuse: a descriptor loop, a huge indirect table, a buffer
;     outside RAM, a head out of range, an avail index jump;
;   - MSI-X: a completion while its vector is masked stays pending and arrives on unmask; a
;     vector pointing nowhere;
; after each refusal it resets the device, and at the end it uses the device as a normal
; driver would (blk_exercise), counting MSI-X interrupts. One line per step on the UART.
%define WAIT_IRQ
%define IRQ_WAIT_SWITCH 0xB0F0          ; byte: 0 polls the used ring, else sleeps for the MSI
%include "unreal.inc"
%include "virtio-blk.inc"
%include "virtio-pci.inc"

%define LAPIC       0xFEE00000
%define VECTOR      0x45
%define SAVED_BARS  0xB070              ; 6 dwords
%define FAULTS      0xB0F4              ; byte: steps that went wrong
%define DESC_HI     0xB0FC              ; word: high dword of the next descriptor table address

main:
        call pci_find
        jnc .found
        mov si, SEG_OFF(none_msg)
        call puts
        mov al, 1
        ret
.found: mov si, SEG_OFF(found_msg)
        call puts
        call puthex
        call putnl
        call pci_place_bars
        call pci_walk_caps
        jnc .caps
        mov si, SEG_OFF(nocaps_msg)
        call puts
        mov al, 2
        ret
.caps:  mov byte [FAULTS], 0
        mov byte [IRQ_WAIT_SWITCH], 0
        mov word [DESC_HI], 0

        ; IVT: every vector to `stray` (a bad MSI-X entry may deliver anything), 0x45 counted.
        xor di, di
        mov cx, 256
.ivt:   mov word [di], SEG_OFF(stray)
        mov word [di + 2], 0xF000
        add di, 4
        loop .ivt
        mov word [VECTOR * 4], SEG_OFF(msix_handler)
        mov dword [IRQ_COUNT], 0
        mov dword [dword LAPIC + 0xF0], 0x1FF

        call read_only_fields
        call move_bars

        ; --- queue set-ups refused at DRIVER_OK
        mov ax, 3
        call setup_and_start
        mov si, SEG_OFF(size3_msg)
        call expect_needs_reset
        mov ax, 0x8000
        call setup_and_start
        mov si, SEG_OFF(sizemax_msg)
        call expect_needs_reset
        mov ax, 8
        mov word [DESC_HI], 0x100               ; descriptor table at 1 TiB
        call setup_and_start
        mov word [DESC_HI], 0
        mov si, SEG_OFF(outside_msg)
        call expect_needs_reset
        call dev_reset                          ; queue enabled before features, no FEATURES_OK
        mov byte [ebp + CC_STATUS], 3
        mov ax, 8
        call queue_setup
        mov dword [ebp + CC_GFSELECT], 1        ; VERSION_1: a modern driver (a transitional
        mov dword [ebp + CC_GF], 1              ; device lets a legacy one skip FEATURES_OK)
        mov byte [ebp + CC_STATUS], 7
        mov si, SEG_OFF(nofeat_msg)
        call expect_needs_reset

        call run_ring_attacks
        jmp msix_steps

; --- MSI-X: masked vector, then a vector pointing nowhere
msix_steps:
        mov ebp, [MSIX_TABLE]
        mov dword [ebp + 0], LAPIC
        mov dword [ebp + 4], 0
        mov dword [ebp + 8], VECTOR
        mov dword [ebp + 12], 1                 ; masked
        mov cx, [MSIX_CAP]
        call cfg_read32
        or eax, 0x80000000
        and eax, ~0x40000000
        call cfg_write32
        mov ax, 8
        call setup_and_start
        mov dword [IRQ_COUNT], 0
        call get_id                             ; completes; its MSI must wait
        mov si, SEG_OFF(masked_msg)
        call puts
        mov ebp, [MSIX_PBA]
        test byte [ebp], 1
        jz .nopend
        cmp dword [IRQ_COUNT], 0
        jne .nopend
        mov ebp, [MSIX_TABLE]
        mov byte [IRQ_WAIT_SWITCH], 1           ; now the unmask must deliver it
        mov dword [ebp + 12], 0
        mov ecx, 100000
.wait:  sti
        cmp dword [IRQ_COUNT], 0
        jne .got
        a32 loop .wait
        mov si, SEG_OFF(lost_msg)
        jmp .said
.got:   mov ebp, [MSIX_PBA]
        test byte [ebp], 1
        jnz .nopend
        mov si, SEG_OFF(delivered_msg)
        jmp .said
.nopend:
        inc byte [FAULTS]
        mov si, SEG_OFF(notpending_msg)
.said:  call puts

        mov ebp, [MSIX_TABLE]                   ; a message to no LAPIC, unmasked
        mov dword [ebp + 0], 0x00001000
        mov dword [ebp + 8], 0x000000FF
        mov byte [IRQ_WAIT_SWITCH], 0
        call get_id
        mov si, SEG_OFF(nowhere_msg)
        call puts
        call putstatus

; --- and now a well-behaved driver
        mov ebp, [MSIX_TABLE]
        mov dword [ebp + 0], LAPIC
        mov dword [ebp + 8], VECTOR
        mov ax, 8
        call setup_and_start
        call needs_reset_now
        jz .ready
        inc byte [FAULTS]
        mov si, SEG_OFF(early_msg)
        call puts
.ready: mov si, SEG_OFF(capacity_msg)
        call puts
        mov ebp, [DEVICE_CFG]
        mov eax, [ebp]
        call puthex
        call putnl
        mov byte [IRQ_WAIT_SWITCH], 1
        mov dword [IRQ_COUNT], 0
        call blk_exercise
        mov si, SEG_OFF(irq_msg)
        call puts
        mov eax, [IRQ_COUNT]
        call puthex
        call putnl
        mov si, SEG_OFF(faults_msg)
        call puts
        movzx eax, byte [FAULTS]
        call puthex
        call putnl
        mov al, [FAULTS]
        ret

; needs_reset_now: ZF clear when the device status has DEVICE_NEEDS_RESET.
needs_reset_now:
        mov ebp, [COMMON]
        test byte [ebp + CC_STATUS], 0x40
        ret

; get_id: a GET_ID request (20 bytes) through blk_request; al = its status.
get_id:
        mov eax, VIRTIO_BLK_T_GET_ID
        xor ebx, ebx
        mov ecx, 20
        jmp blk_request

; putstatus: " ok" when the device status has DRIVER_OK and no NEEDS_RESET, else the status.
putstatus:
        mov ebp, [COMMON]
        movzx eax, byte [ebp + CC_STATUS]
        cmp al, 15
        jne .bad
        mov si, SEG_OFF(ok_msg)
        jmp puts
.bad:   inc byte [FAULTS]
        call puthex
        jmp putnl

; read_only_fields: writes the inverse of read-only registers and checks they kept their value.
read_only_fields:
        mov ebp, [COMMON]
        lea ebx, [ebp + CC_DF]
        call ro32
        lea ebx, [ebp + CC_NUMQ]
        call ro16
        lea ebx, [ebp + CC_Q_NOFF]
        call ro16
        mov ebx, [DEVICE_CFG]                   ; capacity
        call ro32
        mov ebx, [MSIX_PBA]
        call ro32
        mov bx, SEG_OFF(ro_config)              ; PCI configuration registers
.cfg:   mov cx, [cs:bx]
        cmp cx, 0xFFFF
        je .caps
        call ro_cfg
        add bx, 2
        jmp .cfg
.caps:  mov cx, [VIRTIO_CAP]                    ; virtio capability: header, bar, offset, length
        call ro_cfg
        add cx, 4
        call ro_cfg
        add cx, 4
        call ro_cfg
        add cx, 4
        call ro_cfg
        mov cx, [MSIX_CAP]                      ; MSI-X table and PBA locations
        add cx, 4
        call ro_cfg
        add cx, 4
        call ro_cfg
        mov si, SEG_OFF(ro_msg)
        call puts
        jmp putnl

ro32:   mov eax, [ebx]
        not eax
        mov [ebx], eax
        not eax
        cmp [ebx], eax
        je .ok
        inc byte [FAULTS]
        mov si, SEG_OFF(changed_msg)
        call puts
.ok:    ret

ro16:   mov ax, [ebx]
        not ax
        mov [ebx], ax
        not ax
        cmp [ebx], ax
        je ro32.ok
        inc byte [FAULTS]
        mov si, SEG_OFF(changed_msg)
        jmp puts

ro_cfg: push bx
        call cfg_read32
        mov ebx, eax
        not eax
        call cfg_write32
        call cfg_read32
        cmp eax, ebx
        pop bx
        je ro32.ok
        inc byte [FAULTS]
        mov si, SEG_OFF(changed_msg)
        jmp puts

; move_bars: each BAR sized, put at 0, onto guest RAM and on top of the others, decoding off,
; then everything put back; the common configuration must answer again.
move_bars:
        mov cx, 0x10
        mov di, SAVED_BARS
.save:  call cfg_read32
        mov [di], eax
        mov eax, 0xFFFFFFFF
        call cfg_write32
        xor eax, eax
        call cfg_write32
        mov eax, 0x00002000
        call cfg_write32
        mov eax, MEM_WINDOW                     ; all on top of each other
        call cfg_write32
        add di, 4
        add cx, 4
        cmp cx, 0x28
        jb .save
        mov cx, 0x04
        call cfg_read32
        and al, ~3                              ; decoding off
        call cfg_write32
        mov cx, 0x10
        mov di, SAVED_BARS
.back:  mov eax, [di]
        call cfg_write32
        add di, 4
        add cx, 4
        cmp cx, 0x28
        jb .back
        mov cx, 0x04
        call cfg_read32
        or al, 7
        call cfg_write32
        mov ebp, [COMMON]
        mov si, SEG_OFF(bars_msg)
        call puts
        cmp word [ebp + CC_NUMQ], 1
        je .ok
        inc byte [FAULTS]
        mov si, SEG_OFF(lost_msg)
        jmp puts
.ok:    mov si, SEG_OFF(back_msg)
        jmp puts

; dev_reset: status 0, then waits until the device reads 0 (§4.1.4.3.2).
dev_reset:
        mov ebp, [COMMON]
        mov byte [ebp + CC_STATUS], 0
.wait:  cmp byte [ebp + CC_STATUS], 0
        jne .wait
        ret

; setup_and_start: reset, ACKNOWLEDGE | DRIVER, VERSION_1 and INDIRECT_DESC, FEATURES_OK, queue
; 0 of size ax (descriptor table high dword from .hi), DRIVER_OK. ebp = common configuration.
setup_and_start:
        push ax
        call dev_reset
        mov byte [ebp + CC_STATUS], 3
        mov dword [ebp + CC_GFSELECT], 1
        mov dword [ebp + CC_GF], 1
        mov dword [ebp + CC_GFSELECT], 0
        mov dword [ebp + CC_GF], 1 << 28
        mov byte [ebp + CC_STATUS], 11
        mov word [ebp + CC_MSIX], 0xFFFF
        pop ax
        call queue_setup
        movzx eax, word [DESC_HI]
        mov [ebp + CC_Q_DESC + 4], eax          ; 64-bit fields take 32-bit accesses only
        mov byte [ebp + CC_STATUS], 15
        ret

queue_setup:
        call vq_init
        mov word [ebp + CC_Q_SELECT], 0
        mov [ebp + CC_Q_SIZE], ax
        mov dword [ebp + CC_Q_DESC], VQ_DESC
        mov dword [ebp + CC_Q_DESC + 4], 0
        mov dword [ebp + CC_Q_DRIVER], VQ_AVAIL
        mov dword [ebp + CC_Q_DRIVER + 4], 0
        mov dword [ebp + CC_Q_DEVICE], VQ_USED
        mov dword [ebp + CC_Q_DEVICE + 4], 0
        mov word [ebp + CC_Q_MSIX], 0
        movzx eax, word [ebp + CC_Q_NOFF]
        mul dword [NOTIFY_MUL]
        add eax, [NOTIFY]
        mov [notify.at], eax
        mov word [ebp + CC_Q_ENABLE], 1
        ret

; expect_needs_reset: prints the step named at cs:si, then polls (bounded) for
; DEVICE_NEEDS_RESET and says whether it came; resets the device.
expect_needs_reset:
        call puts
        mov ebp, [COMMON]
        mov ecx, 200000
.poll:  test byte [ebp + CC_STATUS], 0x40
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
        mov ebp, [.at]
        mov word [ebp], 0                       ; queue 0
        pop ebp
        ret
.at     equ 0xB0F8                              ; dword: queue 0's notify address

msix_handler:
        push eax
        mov byte [VQ_IRQ_FLAG], 1
        inc dword [IRQ_COUNT]
        mov dword [dword LAPIC + 0xB0], 0       ; EOI
        pop eax
        iret

stray:  mov dword [dword LAPIC + 0xB0], 0
        iret

; PCI configuration registers that no write may change: IDs, class, subsystem, capabilities pointer.
ro_config:
        dw 0x00, 0x08, 0x2C, 0x34, 0xFFFF

%include "hostile-rings.inc"

found_msg:       db "hostile virtio-pci blk ", 0
none_msg:        db "no virtio-pci block device", 10, 0
nocaps_msg:      db "capabilities missing", 10, 0
ro_msg:          db "read-only registers kept", 0
changed_msg:     db "read-only register changed", 10, 0
bars_msg:        db "bars moved and restored: ", 0
back_msg:        db "device answers", 10, 0
lost_msg:        db "lost", 10, 0
size3_msg:       db "queue size 3: ", 0
sizemax_msg:     db "queue size 32768: ", 0
outside_msg:     db "rings outside RAM: ", 0
nofeat_msg:      db "DRIVER_OK without FEATURES_OK: ", 0
masked_msg:      db "masked vector: ", 0
delivered_msg:   db "pending, delivered on unmask", 10, 0
notpending_msg:  db "not pending", 10, 0
nowhere_msg:     db "vector to nowhere:", 0
ok_msg:          db " ok", 10, 0
capacity_msg:    db "capacity ", 0
irq_msg:         db "msi-x interrupts ", 0
faults_msg:      db "faults ", 0

%include "reset.inc"
