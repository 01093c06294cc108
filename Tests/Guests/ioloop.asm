; I/O exit cost as the guest sees it, timed with the ACPI PM timer (3.579545 MHz): an empty loop,
; then the same loop around a port read of the UART scratch register, then around an MMIO read of
; the host bridge's ECAM ID. Prints the PM-timer ticks of each phase and powers off. Under
; `swiftdm run --ioreq xen-sim` every one of these reads is an ioreq round trip.
%include "firmware.inc"

%define ROUNDS      4000
%define PM_TMR      0x608
%define UART_SCR    0x3FF
%define ECAM        0xE0000000

%macro PHASE 2                          ; %1 label text, %2 loop body label
        mov dx, PM_TMR
        in eax, dx
        mov [DATA], eax
        mov ecx, ROUNDS
        call %2
        mov dx, PM_TMR
        in eax, dx
        sub eax, [DATA]
        and eax, 0x00FFFFFF             ; 24-bit timer
        push eax
        mov esi, %1
        call puts
        pop eax
        call puthex
        call putnl
%endmacro

main:
        mov esi, hello
        call puts
        PHASE empty_msg, empty_loop
        PHASE pio_msg, pio_loop
        PHASE mmio_msg, mmio_loop
        xor eax, eax
        ret

empty_loop:
.l:     dec ecx
        jnz .l
        ret

pio_loop:
        mov dx, UART_SCR
.l:     in al, dx
        dec ecx
        jnz .l
        ret

mmio_loop:
        mov ebx, ECAM
.l:     mov eax, [ebx]
        dec ecx
        jnz .l
        ret

hello:     db "ioloop", 10, 0
empty_msg: db "empty ", 0
pio_msg:   db "pio ", 0
mmio_msg:  db "mmio ", 0

%include "reset.inc"
