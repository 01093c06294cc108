; A polled virtio-net driver over modern virtio-pci (virtio 1.2 §4.1, §5.1). Acting as the
; machine's firmware, it finds the network device on bus 0 through configuration mechanism #1,
; sizes and places its BARs, finds the common, notify and device configuration structures in
; the capability list, initialises the device (§3.1.1) with VIRTIO_F_VERSION_1 and
; VIRTIO_NET_F_MAC, and runs net_exercise (virtio-net.inc): one frame out, one frame in. It
; polls the used rings; MSI-X stays disabled.
%include "unreal.inc"
%include "virtio-net.inc"

%ifndef MEM_WINDOW
%define MEM_WINDOW  0xC0000000          ; swiftdm's 32-bit PCI window (below virtio-mmio at 0xD0000000)
%endif
%define IO_WINDOW   0xC000

; Variables (below 64 KiB, clear of virtio-net.inc's rings and buffers).
%define PCI_DEV     0xB000              ; dword: conf1 address of function 0 of the device
%define BAR_BASE    0xB010              ; 6 dwords
%define NEXT_MEM    0xB030
%define NEXT_IO     0xB034
%define COMMON      0xB040              ; addresses of the virtio structures
%define NOTIFY      0xB044
%define NOTIFY_MUL  0xB048
%define DEVICE_CFG  0xB04C
%define NOTIFY_Q    0xB050              ; 2 dwords: notify address of queues 0 and 1

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
        ; --- find 1af4:1041 (modern) or 1af4:1000 (transitional) on bus 0
        xor ebx, ebx
.scan:  mov eax, ebx
        shl eax, 11
        or eax, 0x80000000
        mov [PCI_DEV], eax
        xor cx, cx
        call cfg_read32
        cmp eax, 0x10411AF4
        je .found
        cmp eax, 0x10001AF4
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
        call place_bars
        call find_structures
        cmp dword [COMMON], 0
        je .fail
        cmp dword [NOTIFY], 0
        je .fail
        cmp dword [DEVICE_CFG], 0
        je .fail

        ; --- §3.1.1 through the common configuration
        mov ebp, [COMMON]
        NET_NEGOTIATE CC_STATUS, CC_DFSELECT, CC_DF, CC_GFSELECT, CC_GF, byte
        mov word [ebp + CC_MSIX], 0xFFFF        ; VIRTIO_MSI_NO_VECTOR: polled
        call net_queues
        jc .fail
        mov byte [ebp + CC_STATUS], 15

        mov esi, [DEVICE_CFG]
        call net_read_mac

        call net_exercise
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

; setup_queue (for virtio-net.inc): queue eax, rings at ebx (+0x80, +0x100); ebp = common
; configuration. Records the queue's notify address.
setup_queue:
        mov [ebp + CC_Q_SELECT], ax
        cmp word [ebp + CC_Q_SIZE], NETQ_SIZE
        jb .small
        mov word [ebp + CC_Q_SIZE], NETQ_SIZE
        mov [ebp + CC_Q_DESC], ebx
        mov dword [ebp + CC_Q_DESC + 4], 0
        lea ecx, [ebx + 0x80]
        mov [ebp + CC_Q_DRIVER], ecx
        mov dword [ebp + CC_Q_DRIVER + 4], 0
        lea ecx, [ebx + 0x100]
        mov [ebp + CC_Q_DEVICE], ecx
        mov dword [ebp + CC_Q_DEVICE + 4], 0
        mov word [ebp + CC_Q_MSIX], 0xFFFF
        push eax
        movzx ecx, word [ebp + CC_Q_NOFF]
        imul ecx, [NOTIFY_MUL]
        add ecx, [NOTIFY]
        pop eax
        mov [NOTIFY_Q + eax * 4], ecx
        mov word [ebp + CC_Q_ENABLE], 1
        clc
        ret
.small: stc
        ret

net_notify:
        push esi
        movzx eax, ax
        mov esi, [NOTIFY_Q + eax * 4]
        mov [esi], ax                           ; the queue index (§4.1.5.2)
        pop esi
        ret

; place_bars: sizes each BAR, places it in the memory or I/O window, enables decoding.
place_bars:
        mov dword [NEXT_MEM], MEM_WINDOW
        mov dword [NEXT_IO], IO_WINDOW
        mov cx, 0x10
.bar:   mov di, cx
        sub di, 0x10
        mov dword [BAR_BASE + di], 0
        mov eax, 0xFFFFFFFF
        call cfg_write32
        call cfg_read32
        test eax, eax
        jz .next
        mov edx, eax
        test al, 1
        jnz .io
        and eax, 0xFFFFFFF0
        mov esi, NEXT_MEM
        call place
        and dl, 6
        cmp dl, 4                               ; 64-bit BAR: upper half 0, skip it
        jne .next
        add cx, 4
        xor eax, eax
        call cfg_write32
        jmp .next
.io:    and eax, 0xFFFFFFFC
        or eax, 0xFFFF0000                      ; I/O BARs decode 16 bits
        mov esi, NEXT_IO
        call place
        mov eax, [BAR_BASE + di]
        or eax, 1
        call cfg_write32
.next:  add cx, 4
        cmp cx, 0x28
        jb .bar
        mov cx, 0x04
        call cfg_read32
        or eax, 3                               ; I/O and memory decoding
        call cfg_write32
        ret

; place: eax = BAR size mask, [esi] = next free address of its window. Aligns the address to
; the size, records it as the BAR's base (di = 4 * index), writes it, advances the window.
place:
        push ebx
        neg eax                                 ; size
        mov ebx, [esi]
        dec eax
        add ebx, eax
        not eax
        and ebx, eax                            ; aligned up to the size
        not eax
        inc eax
        mov [BAR_BASE + di], ebx
        push eax
        mov eax, ebx
        call cfg_write32
        pop eax
        add ebx, eax
        mov [esi], ebx
        pop ebx
        ret

; find_structures: walks the capability list for the virtio structures (vendor-specific, id 9).
find_structures:
        mov dword [COMMON], 0
        mov dword [NOTIFY], 0
        mov dword [DEVICE_CFG], 0
        mov cx, 0x34
        call cfg_read8
        movzx cx, al
.cap:   and cx, 0xFC
        jz .done
        call cfg_read32                         ; id, next, len, cfg_type
        cmp al, 0x09
        jne .next
        mov edx, eax
        shr edx, 24                             ; cfg_type
        push cx
        add cx, 4
        call cfg_read8                          ; bar
        movzx di, al
        shl di, 2
        add cx, 4
        call cfg_read32                         ; offset
        add eax, [BAR_BASE + di]
        pop cx
        cmp dl, 1
        jne .notcommon
        mov [COMMON], eax
.notcommon:
        cmp dl, 4
        jne .notdevice
        mov [DEVICE_CFG], eax
.notdevice:
        cmp dl, 2
        jne .next
        mov [NOTIFY], eax
        push cx
        add cx, 16
        call cfg_read32
        mov [NOTIFY_MUL], eax
        pop cx
.next:  inc cx
        call cfg_read8
        movzx cx, al
        jmp .cap
.done:  ret

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

cfg_read32:                                     ; eax = dword at cx (cx 4-aligned)
        push dx
        call cfg_address
        mov dx, 0xCFC
        in eax, dx
        pop dx
        ret

cfg_write32:                                    ; dword at cx = eax
        push dx
        push eax
        call cfg_address
        pop eax
        mov dx, 0xCFC
        out dx, eax
        pop dx
        ret

cfg_read8:                                      ; al = byte at cx
        push dx
        call cfg_address
        mov dx, cx
        and dx, 3
        add dx, 0xCFC
        in al, dx
        pop dx
        ret

found_msg:    db "virtio-pci net ", 0
slot_msg:     db " in slot ", 0
none_msg:     db "no virtio-pci network device", 10, 0
fail_msg:     db "device setup failed, status ", 0

%include "reset.inc"
