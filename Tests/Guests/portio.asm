; Port I/O: single out/in, `rep outsb` to the UART, `rep insw` from the pattern port.
%include "firmware.inc"

main:
        mov esi, hello
        call puts                       ; rep outsb, count > 1

        ; rep insw: 8 words from the pattern port into RAM, then sum them.
        mov dx, PATTERN
        mov edi, DATA
        mov ecx, 8
        rep insw
        xor eax, eax
        xor ebx, ebx
        mov esi, DATA
        mov ecx, 8
.sum:   mov bx, [esi]
        add eax, ebx
        add esi, 2
        dec ecx
        jnz .sum
        push eax
        mov esi, insw_msg
        call puts
        pop eax
        call puthex
        call putnl

        ; A single 16-bit in continues the sequence.
        mov dx, PATTERN
        xor eax, eax
        in ax, dx
        push eax
        mov esi, in_msg
        call puts
        pop eax
        call puthex
        call putnl

        ; A single 32-bit out to the null port and a read of an unmapped port (all ones).
        mov dx, NULL_PORT
        mov eax, 0xDEADBEEF
        out dx, eax
        mov dx, 0x7F0
        in eax, dx
        push eax
        mov esi, unmapped_msg
        call puts
        pop eax
        call puthex
        call putnl

        mov al, 0
        ret

hello:        db "hello from the guest", 10, 0
insw_msg:     db "insw sum ", 0
in_msg:       db "in ", 0
unmapped_msg: db "unmapped ", 0

%include "reset.inc"
