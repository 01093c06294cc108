; MSIs to real-mode IVT handlers: the LAPIC software-enabled (SVR bit 8), then one MSI the host
; sends in answer to a write to MSI_TRIGGER (KVM_SIGNAL_MSI or an irqfd route, as the test chooses)
; and one through an irqfd that the host's event loop signals in answer to an ioeventfd notify.
;
; Real mode on purpose: on a PVM host every guest instruction is emulated by KVM's x86 emulator,
; which implements IRET (and software INT) only in real mode. The LAPIC at 0xFEE00000 is reached
; in "unreal" mode: DS keeps a 4 GiB limit loaded during a brief switch to protected mode.
%include "ports.inc"

%define SEG_OFF(x)  ((x) - $$ + 0xF000)
%define LAPIC       0xFEE00000
%define FLAGS       0x600              ; byte 0: vector 0x40 seen, byte 1: vector 0x41 seen

        bits 16
        org 0xFF000

real_start:
        cli
        cld
        xor ax, ax
        mov ss, ax
        mov sp, 0x7000
        mov es, ax
        ; Unreal mode: load a flat data descriptor into DS in protected mode, return to real mode.
        o32 lgdt [cs:SEG_OFF(gdt_desc)]
        mov eax, cr0
        or al, 1
        mov cr0, eax
        mov bx, 0x08
        mov ds, bx
        and al, 0xFE
        mov cr0, eax
        xor bx, bx
        mov ds, bx                      ; base 0, limit still 4 GiB

        ; IVT: every vector to `unexpected`, 0x40 and 0x41 to their handlers.
        xor di, di
        mov cx, 256
.fill:  mov word [di], SEG_OFF(unexpected)
        mov word [di + 2], 0xF000
        add di, 4
        loop .fill
        mov word [0x40 * 4], SEG_OFF(vector40)
        mov word [0x41 * 4], SEG_OFF(vector41)
        mov word [FLAGS], 0

        mov dword [dword LAPIC + 0xF0], 0x1FF   ; SVR: enabled, spurious vector 0xFF
        mov si, SEG_OFF(ready_msg)
        call puts

        mov dx, MSI_TRIGGER
        mov al, 0x40
        out dx, al
        mov bx, FLAGS
        call wait_flag

        mov dx, NOTIFY_PORT
        mov ax, 1
        out dx, ax
        mov bx, FLAGS + 1
        call wait_flag

        mov si, SEG_OFF(done_msg)
        call puts
        mov al, 0
        mov dx, EXIT_PORT
        out dx, al
.h:     hlt
        jmp .h

; Halts until the byte at ds:bx is non-zero. `sti; hlt` cannot lose a wake-up: sti's interrupt
; shadow holds the interrupt until hlt has started.
wait_flag:
.again: cli
        cmp byte [bx], 0
        jne .done
        sti
        hlt
        jmp .again
.done:  sti
        ret

; puts: the zero-terminated string at cs:si to the UART.
puts:
        push ax
        push dx
        mov dx, UART
.next:  mov al, [cs:si]
        test al, al
        jz .end
        out dx, al
        inc si
        jmp .next
.end:   pop dx
        pop ax
        ret

vector40:
        pusha
        mov byte [FLAGS], 1
        mov si, SEG_OFF(v40_msg)
        call puts
        mov dword [dword LAPIC + 0xB0], 0       ; EOI
        popa
        iret

vector41:
        pusha
        mov byte [FLAGS + 1], 1
        mov si, SEG_OFF(v41_msg)
        call puts
        mov dword [dword LAPIC + 0xB0], 0
        popa
        iret

unexpected:
        mov si, SEG_OFF(unexpected_msg)
        call puts
        mov al, 3
        mov dx, EXIT_PORT
        out dx, al
        hlt

        align 8
gdt:    dq 0
        dq 0x00CF92000000FFFF           ; 0x08: flat data, 4 GiB
gdt_desc:
        dw gdt_desc - gdt - 1
        dd gdt

ready_msg:      db "lapic enabled", 10, 0
v40_msg:        db "vector 40 after the trigger write", 10, 0
v41_msg:        db "vector 41 after the notify", 10, 0
done_msg:       db "interrupts done", 10, 0
unexpected_msg: db "unexpected interrupt", 10, 0

%include "reset.inc"
