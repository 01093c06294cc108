; A boot sector for firmware tests: SeaBIOS loads it at 0:7C00 from the boot disk. It prints
; through the BIOS (int 10h teletype — on swiftdm that is SeaBIOS's serial console), reads
; sectors 1..SECTORS of its own disk through int 13h extended read, prints the 32-bit sum of
; their dwords, and powers the machine off through the ACPI PM1a control register (S5).
;
; The test checks the sum against the disk image it wrote.
        bits 16
        org 0x7C00

%define SECTORS     64                  ; 32 KiB after the boot sector
%define BUFFER_SEG  0x1000              ; read into 1000:0000 (linear 0x10000)
%define PM1A_CNT    0x604               ; swiftdm's ACPI PM block at 0x600, control at +4
%define SLP_EN      (1 << 13)           ; SLP_TYP 0 = S5 on swiftdm

start:
        cli
        xor ax, ax
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov sp, 0x7C00
        sti
        cld
        mov [drive], dl

        mov si, loaded_msg
        call print

        mov si, dap
        mov ah, 0x42
        mov dl, [drive]
        int 0x13
        jc .error

        ; Sum SECTORS * 128 dwords at BUFFER_SEG:0.
        push ds
        mov ax, BUFFER_SEG
        mov ds, ax
        xor si, si
        xor ebx, ebx
        mov cx, SECTORS * 128
.sum:   lodsd
        add ebx, eax
        loop .sum
        pop ds

        push ebx
        mov si, sum_msg
        call print
        pop eax
        call print_hex
        mov si, crlf
        call print
        jmp .off

.error: mov si, error_msg
        call print
        mov al, ah
        movzx eax, al
        call print_hex
        mov si, crlf
        call print

.off:   ; SeaBIOS's serial console holds back the last character and cursor move; a "scroll"
        ; of a 1x1 window with AL=0 flushes them and changes nothing else.
        mov ax, 0x0600
        mov bh, 0x07
        mov cx, 0x0101
        mov dx, 0x0101
        int 0x10
        mov dx, PM1A_CNT
        mov ax, SLP_EN
        out dx, ax
.halt:  hlt
        jmp .halt

; print: the zero-terminated string at ds:si through int 10h teletype.
print:
        lodsb
        test al, al
        jz .done
        mov ah, 0x0E
        mov bx, 0x0007
        int 0x10
        jmp print
.done:  ret

; print_hex: eax as 8 hex digits.
print_hex:
        mov cx, 8
        mov edx, eax
.digit: rol edx, 4
        mov al, dl
        and al, 0x0F
        add al, '0'
        cmp al, '9'
        jbe .emit
        add al, 'A' - '0' - 10
.emit:  mov ah, 0x0E
        mov bx, 0x0007
        push edx                        ; the BIOS preserves only the 16-bit registers
        push cx
        int 0x10
        pop cx
        pop edx
        loop .digit
        ret

        align 4
dap:    db 16, 0                        ; disk address packet: size, reserved
        dw SECTORS                      ; sectors to read
        dw 0, BUFFER_SEG                ; buffer offset, segment
        dq 1                            ; first LBA
drive:  db 0

loaded_msg: db "MBR: loaded", 13, 10, 0
sum_msg:    db "MBR: checksum ", 0
error_msg:  db "MBR: read error ", 0
crlf:       db 13, 10, 0

        times 510 - ($ - $$) db 0
        dw 0xAA55
