; swiftdm bench's boot sector: SeaBIOS loads it at 0:7C00. It writes one line straight to the
; COM1 transmit register (so it needs no BIOS console: QEMU without VGA shows int 10h nowhere)
; and powers the machine off through ACPI PM1a control at 0x604 with SLP_TYP 0, which is S5 on
; swiftdm and on QEMU's PIIX4 and ICH9 once SeaBIOS has put the PM block at 0x600.
; Assemble: nasm -f bin -o mbr-marker.bin mbr-marker.asm (the bytes live in BenchGuestImages.swift).
        bits 16
        org 0x7C00

start:
        cli
        xor ax, ax
        mov ds, ax
        cld
        mov si, line
        mov dx, 0x3F8
.next:  lodsb
        test al, al
        jz .off
        out dx, al
        jmp .next
.off:   mov dx, 0x604
        mov ax, 0x2000
        out dx, ax
.halt:  hlt
        jmp .halt

line:   db "MBR: first line", 13, 10, 0

        times 510 - ($ - $$) db 0
        dw 0xAA55
