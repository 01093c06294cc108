; Triple fault: an empty IDT, then an invalid opcode. #UD cannot be delivered (#GP), neither can
; #GP (#DF), nor #DF: the CPU shuts down (KVM_EXIT_SHUTDOWN).
%include "firmware.inc"

main:
        mov esi, msg
        call puts
        lidt [empty_idt]
        ud2
        mov al, 1                       ; not reached
        ret

empty_idt:
        dw 0
        dd 0
msg:    db "about to triple fault", 10, 0

%include "reset.inc"
