; A "kernel" in bzImage format for testing `swiftdm run --kernel` on any host: a boot sector and
; one setup sector carrying the Linux boot protocol 2.15 header (64-bit entry, loaded high), then
; a protected-mode part whose 64-bit entry point (0x200 past its load address, startup_64) reads
; what the loader handed over in boot_params (%rsi) — the command line, the e820 table, the initrd
; — reports it on COM1 and powers off through ACPI S5.
;
; Documentation/arch/x86/boot.rst: "The Real-Mode Kernel Header", "64-bit Boot Protocol".

%define UART        0x3F8
%define PM1A_CNT    0x604
%define SLP_EN_S5   0x2000

        bits 16
        org 0
        times 0x1F1 - ($ - $$) db 0
        db 1                            ; 0x1F1 setup_sects
        dw 0                            ; 0x1F2 root_flags
        dd 0                            ; 0x1F4 syssize
        dw 0                            ; 0x1F8 ram_size
        dw 0xFFFF                       ; 0x1FA vid_mode
        dw 0                            ; 0x1FC root_dev
        dw 0xAA55                       ; 0x1FE boot_flag
        db 0xEB, header_end - 0x202     ; 0x200 jump over the header
        db "HdrS"                       ; 0x202 header
        dw 0x020F                       ; 0x206 version
        dd 0                            ; 0x208 realmode_swtch
        dw 0                            ; 0x20C start_sys_seg
        dw 0                            ; 0x20E kernel_version
        db 0                            ; 0x210 type_of_loader
        db 0x01                         ; 0x211 loadflags: LOADED_HIGH
        dw 0                            ; 0x212 setup_move_size
        dd 0x100000                     ; 0x214 code32_start
        dd 0                            ; 0x218 ramdisk_image
        dd 0                            ; 0x21C ramdisk_size
        dd 0                            ; 0x220 bootsect_kludge
        dw 0                            ; 0x224 heap_end_ptr
        db 0                            ; 0x226 ext_loader_ver
        db 0                            ; 0x227 ext_loader_type
        dd 0                            ; 0x228 cmd_line_ptr
        dd 0x7FFFFFFF                   ; 0x22C initrd_addr_max
        dd 0x200000                     ; 0x230 kernel_alignment
        db 0                            ; 0x234 relocatable_kernel
        db 0                            ; 0x235 min_alignment
        dw 0x0001                       ; 0x236 xloadflags: XLF_KERNEL_64
        dd 2047                         ; 0x238 cmdline_size
        dd 0                            ; 0x23C hardware_subarch
        dq 0                            ; 0x240 hardware_subarch_data
        dd 0                            ; 0x248 payload_offset
        dd 0                            ; 0x24C payload_length
        dq 0                            ; 0x250 setup_data
        dq 0x100000                     ; 0x258 pref_address
        dd 0x20000                      ; 0x260 init_size
        dd 0                            ; 0x264 handover_offset
        dd 0                            ; 0x268 kernel_info_offset
header_end:
        times 1024 - ($ - $$) db 0

        section .kernel start=1024 vstart=0x100000
        bits 64
        times 0x200 db 0xCC             ; the 32-bit entry point is not used
startup_64:
        cli
        mov r15, rsi                    ; boot_params
        lea rsi, [rel hello]
        call puts
        mov rax, r15
        call puthex
        call putnl

        lea rsi, [rel cmdline_msg]
        call puts
        mov esi, [r15 + 0x228]          ; hdr.cmd_line_ptr
        call puts
        call putnl

        lea rsi, [rel e820_msg]
        call puts
        movzx eax, byte [r15 + 0x1E8]   ; e820_entries
        call puthex
        ; the first entry must be RAM at 0
        mov rax, [r15 + 0x2D0]          ; e820_table[0].addr
        or rax, [r15 + 0x2D0 + 8]       ; .size, nonzero
        mov al, ' '
        mov dx, UART
        out dx, al
        mov eax, [r15 + 0x2D0 + 16]     ; .type
        call puthex
        call putnl

        lea rsi, [rel initrd_msg]
        call puts
        mov ecx, [r15 + 0x21C]          ; hdr.ramdisk_size
        mov eax, ecx
        call puthex
        mov al, ' '
        mov dx, UART
        out dx, al
        mov esi, [r15 + 0x218]          ; hdr.ramdisk_image
        xor ebx, ebx
        jrcxz .summed
.sum:   movzx eax, byte [rsi]
        add ebx, eax
        inc rsi
        dec ecx
        jnz .sum
.summed:
        mov eax, ebx
        call puthex
        call putnl

        mov dx, PM1A_CNT
        mov ax, SLP_EN_S5
        out dx, ax
.halt:  hlt
        jmp .halt

puts:   mov dx, UART
.next:  lodsb
        test al, al
        jz .done
        out dx, al
        jmp .next
.done:  ret

puthex: push rbx
        push rcx
        mov ebx, eax
        mov ecx, 8
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
        pop rcx
        pop rbx
        ret

putnl:  mov al, 10
        mov dx, UART
        out dx, al
        ret

hello:       db "minikernel: boot_params at ", 0
cmdline_msg: db "cmdline: ", 0
e820_msg:    db "e820 entries ", 0
initrd_msg:  db "initrd ", 0
