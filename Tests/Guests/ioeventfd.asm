; ioeventfd: writes the host matches in the kernel (PIO with datamatch, MMIO without) and writes
; that must still reach the device model (PIO with a non-matching value).
%include "firmware.inc"

main:
        mov dx, NOTIFY_PORT
        mov ax, 0x0001                  ; matches the datamatch registration: eventfd, no exit
        out dx, ax
        out dx, ax
        mov ax, 0x0002                  ; does not match: exits to the handler
        out dx, ax
        mov dword [NOTIFY_MMIO], 7      ; MMIO registration without datamatch
        mov esi, done_msg
        call puts
        mov al, 0
        ret

done_msg: db "notified", 10, 0

%include "reset.inc"
