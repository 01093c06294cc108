; The guest QMP tests drive (Tests/LauncherTests/RunQMPTests.swift): the virtio-pci-blk guest's
; device set-up and block exercise (so query-blockstats has requests to count), then a control
; loop that prints "tick N" about ten times a second of PM-timer time (so a paused machine is seen
; to print nothing) and polls PM1_STS for the power button: when QMP's system_powerdown presses
; it, the guest says so and powers off through ACPI S5, as an OS would.
;
; For QMP's system_reset it counts its boots in CMOS RAM (kept across a reset, as on a PC) and
; reports the virtio function as it finds it before setting it up: a machine reset in place
; must show "boot 00000002" and the same power-on values as the first boot (no decoding, BAR 4
; unassigned, MSI-X off with entry 0 masked, device status 0).
%define WAIT_IRQ
%include "unreal.inc"
%include "virtio-blk.inc"

%include "virtio-pci.inc"

%define LAPIC       0xFEE00000
%define VECTOR      0x45
%define PM1A_STS    0x600
%define PM_TMR      0x608
%define PWRBTN_STS  0x0100
%define TICK_PERIOD 357954              ; 0.1 s of the 3.579545 MHz PM timer
%define TICK_LAST   0x9C00
%define TICK_COUNT  0x9C04
%define BOOT_COUNT  0x40                ; a CMOS RAM byte no firmware field uses

main:
        mov al, BOOT_COUNT
        out 0x70, al
        in al, 0x71
        inc al
        mov ah, al
        mov al, BOOT_COUNT
        out 0x70, al
        mov al, ah
        out 0x71, al
        mov si, SEG_OFF(boot_msg)
        call puts
        movzx eax, ah
        call puthex
        call putnl

        call pci_find
        jnc .found
        mov si, SEG_OFF(none_msg)
        call puts
        mov al, 1
        ret

.found: mov si, SEG_OFF(found_msg)
        call puts
        call puthex
        mov si, SEG_OFF(slot_msg)
        call puts
        mov eax, ebx
        call puthex
        call putnl

        ; --- the function as this boot finds it
        mov si, SEG_OFF(command_msg)
        call puts
        mov cx, 0x04
        call cfg_read32
        and eax, 0xFFFF
        call puthex
        mov si, SEG_OFF(bar4_msg)
        call puts
        mov cx, 0x20
        call cfg_read32
        call puthex
        call pci_place_bars
        call pci_walk_caps
        jc .fail
        mov si, SEG_OFF(msix_control_msg)
        call puts
        mov cx, [MSIX_CAP]
        call cfg_read32
        shr eax, 16
        call puthex
        mov si, SEG_OFF(entry_mask_msg)
        call puts
        mov ebp, [MSIX_TABLE]
        mov eax, [ebp + 12]
        call puthex
        mov si, SEG_OFF(status_msg)
        call puts
        mov ebp, [COMMON]
        movzx eax, byte [ebp + CC_STATUS]
        call puthex
        call putnl

        ; --- interrupts: IVT entry, LAPIC on, MSI-X entry 0 → vector 0x45, MSI-X enabled
        mov word [VECTOR * 4], SEG_OFF(msix_handler)
        mov word [VECTOR * 4 + 2], 0xF000
        mov dword [IRQ_COUNT], 0
        mov dword [dword LAPIC + 0xF0], 0x1FF
        mov ebp, [MSIX_TABLE]
        mov dword [ebp + 0], LAPIC      ; message address: APIC 0
        mov dword [ebp + 4], 0
        mov dword [ebp + 8], VECTOR     ; message data: fixed delivery, edge
        mov dword [ebp + 12], 0         ; unmasked
        mov cx, [MSIX_CAP]
        call cfg_read32
        or eax, 0x80000000              ; message control bit 15: MSI-X enable
        and eax, ~0x40000000            ; bit 14: function mask off
        call cfg_write32

        ; --- device initialisation (§3.1.1) through the common configuration
        mov ebp, [COMMON]
        mov byte [ebp + CC_STATUS], 0
.reset: cmp byte [ebp + CC_STATUS], 0
        jne .reset
        mov byte [ebp + CC_STATUS], 1
        mov byte [ebp + CC_STATUS], 3
        mov dword [ebp + CC_DFSELECT], 1
        test dword [ebp + CC_DF], 1     ; VIRTIO_F_VERSION_1
        jz .fail
        mov dword [ebp + CC_GFSELECT], 1
        mov dword [ebp + CC_GF], 1
        mov dword [ebp + CC_GFSELECT], 0
        mov dword [ebp + CC_GF], 0
        mov byte [ebp + CC_STATUS], 11
        test byte [ebp + CC_STATUS], 8
        jz .fail
        mov word [ebp + CC_MSIX], 0xFFFF
        call vq_init
        mov word [ebp + CC_Q_SELECT], 0
        cmp word [ebp + CC_Q_SIZE], VQ_SIZE
        jb .fail
        mov word [ebp + CC_Q_SIZE], VQ_SIZE
        mov dword [ebp + CC_Q_DESC], VQ_DESC
        mov dword [ebp + CC_Q_DESC + 4], 0
        mov dword [ebp + CC_Q_DRIVER], VQ_AVAIL
        mov dword [ebp + CC_Q_DRIVER + 4], 0
        mov dword [ebp + CC_Q_DEVICE], VQ_USED
        mov dword [ebp + CC_Q_DEVICE + 4], 0
        mov word [ebp + CC_Q_MSIX], 0
        cmp word [ebp + CC_Q_MSIX], 0   ; the device must accept vector 0
        jne .fail
        movzx eax, word [ebp + CC_Q_NOFF]
        mul dword [NOTIFY_MUL]
        add [NOTIFY], eax
        mov word [ebp + CC_Q_ENABLE], 1
        mov byte [ebp + CC_STATUS], 15

        mov si, SEG_OFF(capacity_msg)
        call puts
        mov ebp, [DEVICE_CFG]
        mov eax, [ebp]                  ; capacity (low half)
        call puthex
        call putnl

        call blk_exercise
        mov si, SEG_OFF(irq_msg)
        call puts
        mov eax, [IRQ_COUNT]
        call puthex
        call putnl

        ; --- the control loop
        mov dword [TICK_COUNT], 0
        mov dx, PM_TMR
        in eax, dx
        mov [TICK_LAST], eax
.poll:  mov dx, PM1A_STS
        in ax, dx
        test ax, PWRBTN_STS
        jnz .button
        mov dx, PM_TMR
        in eax, dx
        mov ecx, eax
        sub eax, [TICK_LAST]
        and eax, 0x00FFFFFF             ; 24-bit timer
        cmp eax, TICK_PERIOD
        jb .poll
        mov [TICK_LAST], ecx
        inc dword [TICK_COUNT]
        mov si, SEG_OFF(tick_msg)
        call puts
        mov eax, [TICK_COUNT]
        call puthex
        call putnl
        jmp .poll
.button:
        mov dx, PM1A_STS
        mov ax, PWRBTN_STS              ; write 1 to clear
        out dx, ax
        mov si, SEG_OFF(button_msg)
        call puts
        mov al, 0
        ret

.fail:  mov si, SEG_OFF(fail_msg)
        call puts
        mov ebp, [COMMON]
        test ebp, ebp
        jz .nostatus
        movzx eax, byte [ebp + CC_STATUS]
        call puthex
.nostatus:
        call putnl
        mov al, 2
        ret

notify:
        push ebp
        mov ebp, [NOTIFY]
        mov word [ebp], 0               ; queue 0
        pop ebp
        ret

msix_handler:
        push eax
        mov byte [VQ_IRQ_FLAG], 1
        inc dword [IRQ_COUNT]
        mov dword [dword LAPIC + 0xB0], 0       ; EOI
        pop eax
        iret

boot_msg:     db "boot ", 0
command_msg:  db "found: command ", 0
bar4_msg:     db " bar4 ", 0
msix_control_msg: db " msix control ", 0
entry_mask_msg:   db " entry 0 control ", 0
status_msg:   db " device status ", 0
found_msg:    db "virtio-pci blk ", 0
slot_msg:     db " in slot ", 0
none_msg:     db "no virtio-pci block device", 10, 0
capacity_msg: db "capacity ", 0
irq_msg:      db "msi-x interrupts ", 0
fail_msg:     db "device setup failed, status ", 0
tick_msg:     db "tick ", 0
button_msg:   db "power button", 10, 0

%include "reset.inc"
