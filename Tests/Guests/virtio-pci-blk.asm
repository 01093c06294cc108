; A virtio-blk driver over modern virtio-pci (virtio 1.2 §4.1) whose completions arrive as MSI-X
; interrupts. Acting as the machine's firmware, it finds the device on bus 0 through
; configuration mechanism #1, sizes and places its BARs, walks the capability list for the
; virtio structures and MSI-X, programs MSI-X table entry 0 (vector 0x45 to APIC 0), runs
; blk_exercise (virtio-blk.inc) sleeping in hlt until each completion's interrupt, and reports
; how many interrupts its IVT handler took.
%define WAIT_IRQ
%include "unreal.inc"
%include "virtio-blk.inc"

%ifndef MEM_WINDOW
%define MEM_WINDOW  0xC0000000          ; swiftdm's 32-bit PCI window (below virtio-mmio at 0xD0000000)
%endif
%define IO_WINDOW   0xC000
%define LAPIC       0xFEE00000
%define VECTOR      0x45

; Variables (below 64 KiB).
%define PCI_DEV     0xB000              ; dword: conf1 address of function 0 of the device
%define BAR_BASE    0xB010              ; 6 dwords
%define NEXT_MEM    0xB030
%define NEXT_IO     0xB034
%define COMMON      0xB040              ; addresses of the virtio structures
%define NOTIFY      0xB044
%define NOTIFY_MUL  0xB048
%define DEVICE_CFG  0xB04C
%define MSIX_CAP    0xB050              ; config offset of the MSI-X capability
%define MSIX_TABLE  0xB054
%define IRQ_COUNT   0xB058

; common configuration (§4.1.4.3)
%define CC_DFSELECT  0x00
%define CC_DF        0x04
%define CC_GFSELECT  0x08
%define CC_GF        0x0C
%define CC_MSIX      0x10
%define CC_STATUS    0x14
%define CC_Q_SELECT  0x16
%define CC_Q_SIZE    0x18
%define CC_Q_MSIX    0x1A
%define CC_Q_ENABLE  0x1C
%define CC_Q_NOFF    0x1E
%define CC_Q_DESC    0x20
%define CC_Q_DRIVER  0x28
%define CC_Q_DEVICE  0x30

main:
        ; --- find 1af4:1042 (modern) or 1af4:1001 (transitional) on bus 0
        xor ebx, ebx
.scan:  mov eax, ebx
        shl eax, 11
        or eax, 0x80000000
        mov [PCI_DEV], eax
        xor cx, cx
        call cfg_read32
        cmp eax, 0x10421AF4
        je .found
        cmp eax, 0x10011AF4
        je .found
        inc ebx
        cmp ebx, 32
        jne .scan
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

        ; --- BARs: size each, place it, enable decoding and bus mastering
        mov dword [NEXT_MEM], MEM_WINDOW
        mov dword [NEXT_IO], IO_WINDOW
        mov cx, 0x10
.bar:   xor eax, eax
        mov di, cx
        sub di, 0x10
        mov [BAR_BASE + di], eax
        mov eax, 0xFFFFFFFF
        call cfg_write32
        call cfg_read32
        test eax, eax
        jz .nextbar
        test al, 1
        jnz .iobar
        mov edx, eax
        and eax, 0xFFFFFFF0
        neg eax                         ; size
        mov esi, [NEXT_MEM]
        dec eax
        add esi, eax
        not eax
        and esi, eax                    ; next_mem aligned up to the size
        not eax
        inc eax
        mov [BAR_BASE + di], esi
        push eax
        mov eax, esi
        call cfg_write32
        pop eax
        add esi, eax
        mov [NEXT_MEM], esi
        and dl, 6
        cmp dl, 4                       ; 64-bit BAR: upper half 0, skip it
        jne .nextbar
        add cx, 4
        xor eax, eax
        call cfg_write32
        jmp .nextbar
.iobar: and eax, 0xFFFFFFFC
        neg eax
        movzx eax, ax                   ; I/O BARs decode 16 bits
        mov esi, [NEXT_IO]
        dec eax
        add esi, eax
        not eax
        and esi, eax
        not eax
        inc eax
        mov [BAR_BASE + di], esi
        push eax
        mov eax, esi
        or eax, 1
        call cfg_write32
        pop eax
        add esi, eax
        mov [NEXT_IO], esi
.nextbar:
        add cx, 4
        cmp cx, 0x28
        jb .bar
        mov cx, 0x04
        call cfg_read32
        or eax, 7                       ; I/O space, memory space, bus master
        call cfg_write32

        ; --- capabilities: virtio structures (vendor-specific, id 9) and MSI-X (id 0x11)
        mov dword [COMMON], 0
        mov dword [NOTIFY], 0
        mov dword [DEVICE_CFG], 0
        mov dword [MSIX_CAP], 0
        mov cx, 0x34
        call cfg_read8
        movzx cx, al
.cap:   and cx, 0xFC
        jz .capsdone
        call cfg_read32                 ; id, next, len, cfg_type
        cmp al, 0x11
        je .msix
        cmp al, 0x09
        jne .capnext
        mov edx, eax
        shr edx, 24                     ; cfg_type
        push cx
        add cx, 4
        call cfg_read8                  ; bar
        movzx di, al
        shl di, 2
        add cx, 4
        call cfg_read32                 ; offset
        add eax, [BAR_BASE + di]
        pop cx
        cmp dl, 1
        jne .notcommon
        mov [COMMON], eax
.notcommon:
        cmp dl, 2
        jne .notnotify
        mov [NOTIFY], eax
        push cx
        add cx, 16
        call cfg_read32
        mov [NOTIFY_MUL], eax
        pop cx
.notnotify:
        cmp dl, 4
        jne .capnext
        mov [DEVICE_CFG], eax
        jmp .capnext
.msix:  mov [MSIX_CAP], cx
        push cx
        add cx, 4
        call cfg_read32                 ; table offset | BIR
        mov di, ax
        and di, 7
        shl di, 2
        and eax, 0xFFFFFFF8
        add eax, [BAR_BASE + di]
        mov [MSIX_TABLE], eax
        pop cx
.capnext:
        inc cx
        call cfg_read8
        movzx cx, al
        jmp .cap
.capsdone:
        cmp dword [COMMON], 0
        je .fail
        cmp dword [NOTIFY], 0
        je .fail
        cmp dword [MSIX_CAP], 0
        je .fail

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

; Configuration accesses to the found function: cx = register offset.
cfg_address:
        mov eax, [PCI_DEV]
        push cx
        and cx, 0xFC
        or al, cl
        pop cx
        mov dx, 0xCF8
        out dx, eax
        ret

cfg_read32:                             ; eax = dword at cx (cx 4-aligned)
        push dx
        call cfg_address
        mov dx, 0xCFC
        in eax, dx
        pop dx
        ret

cfg_write32:                            ; dword at cx = eax
        push dx
        push eax
        call cfg_address
        pop eax
        mov dx, 0xCFC
        out dx, eax
        pop dx
        ret

cfg_read8:                              ; al = byte at cx
        push dx
        call cfg_address
        mov dx, cx
        and dx, 3
        add dx, 0xCFC
        in al, dx
        pop dx
        ret

found_msg:    db "virtio-pci blk ", 0
slot_msg:     db " in slot ", 0
none_msg:     db "no virtio-pci block device", 10, 0
capacity_msg: db "capacity ", 0
irq_msg:      db "msi-x interrupts ", 0
fail_msg:     db "device setup failed, status ", 0

%include "reset.inc"
