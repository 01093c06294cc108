; A boot sector for a Xen HVM domain's firmware (hvmloader + SeaBIOS). It prints through
; port 0xE9, Xen's HVM debug port (the hypervisor buffers each line and logs it as "(dN) …",
; which `xl dmesg` shows), reads sectors 1..SECTORS of its own disk through int 13h extended
; read and prints the 32-bit sum of their dwords, writes one sector of a known pattern at
; WRITE_LBA through int 13h extended write, and powers the domain off through the ACPI PM1a
; control register of hvmloader's FADT (S5).
;
; The Xen lab test checks the sum against the image it wrote and finds the pattern on the
; image in dom0 afterwards.
        bits 16
        org 0x7C00

%define SECTORS     64                  ; 32 KiB after the boot sector
%define BUFFER_SEG  0x1000              ; read into 1000:0000 (linear 0x10000)
%define WRITE_SEG   0x2000              ; the pattern sector at 2000:0000
%define WRITE_LBA   100                 ; past the summed sectors
%define DEBUG_PORT  0xE9                ; Xen's HVM debug console port
%define PM1A_CNT    0xB004              ; hvmloader's FADT: PM1a_CNT_BLK (tools/libacpi, V1 layout)
%define SLP_EN      (1 << 13)           ; SLP_TYP 0: Xen's DSDT has \_S5 = { 0, 0, 0, 0 }

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

        mov si, read_dap
        mov ah, 0x42
        mov dl, [drive]
        int 0x13
        jc .read_error

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

        ; The pattern sector: "XENMBR-WRITE-OK " repeated 32 times.
        push es
        mov ax, WRITE_SEG
        mov es, ax
        xor di, di
        mov dx, 32
.fill:  mov si, pattern
        mov cx, 16
        rep movsb
        dec dx
        jnz .fill
        pop es

        mov si, write_dap
        mov ax, 0x4300                  ; extended write, AL=0: no verify
        mov dl, [drive]
        int 0x13
        jc .write_error
        mov si, written_msg
        call print
        jmp .off

.read_error:
        mov si, read_error_msg
        jmp .error
.write_error:
        mov si, write_error_msg
.error: push ax
        call print
        pop ax
        movzx eax, ah
        call print_hex
        mov si, crlf
        call print

.off:   mov si, off_msg
        call print
        mov dx, PM1A_CNT
        mov ax, SLP_EN
        out dx, ax
        ; Still running: the device model did not act on the power-off.
        mov si, still_msg
        call print
.halt:  cli
        hlt
        jmp .halt

; print: the zero-terminated string at ds:si to the debug port.
print:
        push dx
        mov dx, DEBUG_PORT
.next:  lodsb
        test al, al
        jz .done
        cmp al, 13                      ; Xen ends a line at "\n"; carriage returns add nothing
        je .next
        out dx, al
        jmp .next
.done:  pop dx
        ret

; print_hex: eax as 8 hex digits.
print_hex:
        push dx
        mov cx, 8
        mov ebx, eax
        mov dx, DEBUG_PORT
.digit: rol ebx, 4
        mov al, bl
        and al, 0x0F
        add al, '0'
        cmp al, '9'
        jbe .emit
        add al, 'A' - '0' - 10
.emit:  out dx, al
        loop .digit
        pop dx
        ret

        align 4
read_dap:
        db 16, 0                        ; disk address packet: size, reserved
        dw SECTORS                      ; sectors to read
        dw 0, BUFFER_SEG                ; buffer offset, segment
        dq 1                            ; first LBA
write_dap:
        db 16, 0
        dw 1
        dw 0, WRITE_SEG
        dq WRITE_LBA
drive:  db 0

pattern:         db "XENMBR-WRITE-OK "
loaded_msg:      db "XENMBR: loaded", 10, 0
sum_msg:         db "XENMBR: checksum ", 0
written_msg:     db "XENMBR: wrote sector 100", 10, 0
read_error_msg:  db "XENMBR: read error ", 0
write_error_msg: db "XENMBR: write error ", 0
off_msg:         db "XENMBR: powering off", 10, 0
still_msg:       db "XENMBR: still running after the PM1a_CNT write", 10, 0
crlf:            db 10, 0

        times 510 - ($ - $$) db 0
        dw 0xAA55
