; swiftdm bench's exit-cost guest: a 4 KiB flat firmware image (the last 4 KiB of a 64 KiB ROM
; ending at 4 GiB, copied below 1 MiB) that switches to flat 32-bit protected mode and prints a
; line on COM1 before and after each phase, so the host times a phase between two lines:
;   "P1" 20000 port reads of 0x706 (no device on any side: each read leaves the kernel)
;   "P2" 20000 32-bit MMIO reads of 0xD0001000 (unbacked on every side)
;   "P3" end: exit port 0x501 (the C loop; QEMU's isa-debug-exit), then ACPI S5 (swiftdm).
; Assemble: nasm -f bin -o exit-cost.bin exit-cost.asm (the bytes live in BenchGuestImages.swift).
%define ROUNDS  2500                    ; 8 accesses per round: 20000 per phase
%define UART    0x3F8

        bits 16
        org 0xFF000
%define SEG_OFF(x)  ((x) - $$ + 0xF000)

real_start:
        cli
        cld
        o32 lgdt [cs:SEG_OFF(gdt_desc)]
        mov eax, cr0
        or eax, 1
        mov cr0, eax
        jmp dword 0x08:pm_start

        bits 32
pm_start:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, 0x80000
        mov bl, '1'
        call mark
        mov ecx, ROUNDS
        mov dx, 0x706
.pio:   in al, dx
        in al, dx
        in al, dx
        in al, dx
        in al, dx
        in al, dx
        in al, dx
        in al, dx
        dec ecx
        jnz .pio
        mov bl, '2'
        call mark
        mov ecx, ROUNDS
        mov esi, 0xD0001000
.mmio:  mov eax, [esi]
        mov eax, [esi]
        mov eax, [esi]
        mov eax, [esi]
        mov eax, [esi]
        mov eax, [esi]
        mov eax, [esi]
        mov eax, [esi]
        dec ecx
        jnz .mmio
        mov bl, '3'
        call mark
        mov dx, 0x501
        xor al, al
        out dx, al
        mov dx, 0x604
        mov ax, 0x2000
        out dx, ax
.stuck: hlt
        jmp .stuck

; mark: the line "P<bl>\n" on COM1.
mark:   mov dx, UART
        mov al, 'P'
        out dx, al
        mov al, bl
        out dx, al
        mov al, 10
        out dx, al
        ret

        align 8
gdt:    dq 0
        dq 0x00CF9B000000FFFF           ; 0x08: flat 32-bit code, accessed (QEMU's low BIOS copy is ROM: the CPU could not set the bit)
        dq 0x00CF93000000FFFF           ; 0x10: flat 32-bit data, accessed
gdt_desc:
        dw gdt_desc - gdt - 1
        dd gdt

        times 0xFF0 - ($ - $$) db 0
        bits 16
reset_vector:
        jmp 0xF000:SEG_OFF(real_start)
        times 0x1000 - ($ - $$) db 0
