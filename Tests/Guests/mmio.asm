; MMIO: 1-, 2- and 4-byte writes and reads of the scratch device, a `rep stosd` into it, and a
; read of an unmapped address.
%include "firmware.inc"

main:
        mov ebx, SCRATCH
        mov byte [ebx + 0x10], 0xA5
        mov word [ebx + 0x20], 0xBEEF
        mov dword [ebx + 0x30], 0x12345678
        xor edx, edx                    ; edx counts mismatches
        movzx eax, byte [ebx + 0x10]
        cmp eax, 0xA5
        je .b
        inc edx
.b:     movzx eax, word [ebx + 0x20]
        cmp eax, 0xBEEF
        je .w
        inc edx
.w:     mov eax, [ebx + 0x30]
        cmp eax, 0x12345678
        je .d
        inc edx
.d:     ; rep stosd: four dwords at 0x100..0x10F
        mov edi, SCRATCH + 0x100
        mov eax, 0xCAFEF00D
        mov ecx, 4
        rep stosd
        mov eax, [ebx + 0x10C]
        cmp eax, 0xCAFEF00D
        je .r
        inc edx
.r:     mov esi, mmio_msg
        call puts
        mov eax, edx
        call puthex
        call putnl

        mov eax, [0xD0800000]           ; nothing there: all ones
        push eax
        mov esi, unmapped_msg
        call puts
        pop eax
        call puthex
        call putnl
        mov al, 0
        ret

mmio_msg:     db "mmio mismatches ", 0
unmapped_msg: db "unmapped ", 0

%include "reset.inc"
