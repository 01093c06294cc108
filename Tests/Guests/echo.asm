; Serial input: reads bytes from the UART (polling LSR.DR, port 0x3FD bit 0), echoes each one in
; upper case, and stops at '.'. Under `swiftdm run`, stdin is the guest's serial input.
%include "firmware.inc"

main:
        mov esi, ready_msg
        call puts
.next:  mov dx, UART + 5
.poll:  in al, dx
        test al, 1
        jz .poll
        mov dx, UART
        in al, dx
        cmp al, 'a'
        jb .emit
        cmp al, 'z'
        ja .emit
        sub al, 'a' - 'A'
.emit:  out dx, al
        cmp al, '.'
        jne .next
        call putnl
        mov al, 0
        ret

ready_msg: db "type:", 10, 0

%include "reset.inc"
