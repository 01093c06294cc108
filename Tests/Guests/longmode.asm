; A 64-bit guest entered through X86Machine's LongModeEntry (not through the reset vector): loaded at
; 0x100000, started in long mode with paging on, %rsi = 0x7000. Reports its CS and RSI and
; touches memory above 1 GiB through the identity map.
        bits 64
        org 0x100000

%define UART      0x3F8
%define EXIT_PORT 0x501

start:
        mov r12, rsi                    ; boot_params pointer from the entry state
        lea rsi, [rel msg_cs]
        call puts
        xor eax, eax
        mov ax, cs
        call puthex
        call putnl
        lea rsi, [rel msg_rsi]
        call puts
        mov rax, r12
        call puthex
        call putnl
        ; Write and read back RAM at 1 GiB + 8 (needs the identity map to reach that far).
        mov rdi, 0x40000008
        mov dword [rdi], 0x600DF00D
        mov eax, [rdi]
        push rax
        lea rsi, [rel msg_mem]
        call puts
        pop rax
        call puthex
        call putnl
        mov al, 0
        mov dx, EXIT_PORT
        out dx, al
.h:     hlt
        jmp .h

puts:   mov dx, UART
.next:  lodsb
        test al, al
        jz .done
        out dx, al
        jmp .next
.done:  ret

puthex: mov ecx, 8
        mov ebx, eax
        mov dx, UART
.d:     rol ebx, 4
        mov al, bl
        and al, 0x0F
        add al, '0'
        cmp al, '9'
        jbe .e
        add al, 'A' - '0' - 10
.e:     out dx, al
        dec ecx
        jnz .d
        ret

putnl:  mov al, 10
        mov dx, UART
        out dx, al
        ret

msg_cs:  db "long mode cs ", 0
msg_rsi: db "rsi ", 0
msg_mem: db "mem ", 0
