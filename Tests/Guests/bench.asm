; Exit-cost benchmark: N accesses of each kind in loops unrolled 8 times, each phase bracketed by
; a write to the marker port so the host can time it. Phases: 1 empty loop, 2 port writes to the
; null port, 3 MMIO writes to the null page, 4 port writes matched by a KVM ioeventfd, 5 end.
%include "firmware.inc"

%define ROUNDS 2500                     ; 8 accesses per round: 20000 per phase

%macro MARK 1
        mov dx, MARKER
        mov al, %1
        out dx, al
%endmacro

main:
        MARK 1
        mov ecx, ROUNDS
.empty: dec ecx
        jnz .empty

        MARK 2
        mov ecx, ROUNDS
        mov dx, NULL_PORT
.pio:   out dx, al
        out dx, al
        out dx, al
        out dx, al
        out dx, al
        out dx, al
        out dx, al
        out dx, al
        dec ecx
        jnz .pio

        MARK 3
        mov ecx, ROUNDS
        mov ebx, NULL_MMIO
.mmio:  mov [ebx], eax
        mov [ebx], eax
        mov [ebx], eax
        mov [ebx], eax
        mov [ebx], eax
        mov [ebx], eax
        mov [ebx], eax
        mov [ebx], eax
        dec ecx
        jnz .mmio

        MARK 4
        mov ecx, ROUNDS
        mov dx, NOTIFY_PORT
        mov ax, 1
.iofd:  out dx, ax
        out dx, ax
        out dx, ax
        out dx, ax
        out dx, ax
        out dx, ax
        out dx, ax
        out dx, ax
        dec ecx
        jnz .iofd

        MARK 5
        mov al, 0
        ret

%include "reset.inc"
