; The PC platform of `swiftdm run`, seen by a guest started as firmware: the UART (`rep outsb`),
; fw_cfg (`rep insb` of the signature), the i440FX host bridge through configuration mechanism #1
; (port I/O) and through ECAM (MMIO), and the CMOS memory-size fields. Ends with ACPI S5.
%include "firmware.inc"

%define ECAM        0xE0000000

main:
        mov esi, hello
        call puts

        ; fw_cfg: select the signature item, read four bytes with one `rep insb`.
        mov dx, 0x510
        xor ax, ax
        out dx, ax
        mov edi, DATA
        mov ecx, 4
        mov dx, 0x511
        rep insb
        mov byte [DATA + 4], 0
        mov esi, fwcfg_msg
        call puts
        mov esi, DATA
        call puts
        call putnl

        ; Host bridge vendor/device through 0xCF8/0xCFC.
        mov dx, 0xCF8
        mov eax, 0x80000000
        out dx, eax
        mov dx, 0xCFC
        in eax, dx
        push eax
        mov esi, conf1_msg
        call puts
        pop eax
        call puthex
        call putnl

        ; The same through ECAM: a dword read and a word read.
        mov eax, [ECAM]
        push eax
        mov esi, ecam_msg
        call puts
        pop eax
        call puthex
        mov al, ' '
        mov dx, UART
        out dx, al
        movzx eax, word [ECAM + 2]
        call puthex
        call putnl

        ; CMOS 0x34/0x35: RAM above 16 MiB in 64 KiB units.
        mov al, 0x35
        out 0x70, al
        in al, 0x71
        mov ah, al
        mov al, 0x34
        out 0x70, al
        in al, 0x71
        movzx eax, ax
        push eax
        mov esi, cmos_msg
        call puts
        pop eax
        call puthex
        call putnl

        mov al, 0
        ret

hello:     db "platform guest", 10, 0
fwcfg_msg: db "fw_cfg ", 0
conf1_msg: db "conf1 ", 0
ecam_msg:  db "ecam ", 0
cmos_msg:  db "cmos ", 0

%include "reset.inc"
