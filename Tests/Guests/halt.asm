; Halts with interrupts off. Without an in-kernel irqchip this is KVM_EXIT_HLT; with one the vCPU
; sleeps in the kernel until the host stops it.
%include "firmware.inc"

main:
        mov esi, msg
        call puts
        cli
.h:     hlt
        jmp .h

msg:    db "halting", 10, 0

%include "reset.inc"
