; The snapshot guest: programs the interrupt controllers and the PIT (all masked, so nothing
; fires), then counts in a register and in memory, one step per iteration: the step is read from
; STEP_PORT (an `in` whose value KVM stores only when the vCPU re-enters KVM_RUN) and the counter
; written to PROGRESS (an `out`). The host pauses it mid-count, saves the processor state and
; RAM, and continues it in a new VM: the counter must go on from where it stopped. At the end
; the guest reads back what it programmed and reports it, so the restored VM shows its LAPIC,
; IOAPIC and PIC kept the state.
%include "firmware.inc"

%define LAPIC       0xFEE00000
%define IOAPIC      0xFEC00000
%define COUNTER     (DATA + 0)
%define TARGET      1000
%define REDIR_PIN   5

main:
        ; LAPIC: software-enabled; timer periodic, masked, vector 0x30, divide by 16, a count that
        ; takes minutes to run down.
        mov dword [LAPIC + 0xF0], 0x1FF
        mov dword [LAPIC + 0x3E0], 0x3
        mov dword [LAPIC + 0x320], 0x00030030
        mov dword [LAPIC + 0x380], 0x7FFFFFFF
        ; IOAPIC pin 5: vector 0x35, level, active low, masked, to APIC 0.
        mov dword [IOAPIC], 0x10 + 2 * REDIR_PIN
        mov dword [IOAPIC + 0x10], 0x0001A035
        mov dword [IOAPIC], 0x10 + 2 * REDIR_PIN + 1
        mov dword [IOAPIC + 0x10], 0x00000000
        ; PIC interrupt masks (OCW1) and PIT channel 0 in mode 2 with reload 0x1234.
        mov al, 0xFB
        out 0x21, al
        mov al, 0xBF
        out 0xA1, al
        mov al, 0x34
        out 0x43, al
        mov al, 0x34
        out 0x40, al
        mov al, 0x12
        out 0x40, al

        mov esi, ready_msg
        call puts
        xor ebx, ebx
        mov dword [COUNTER], 0
.count: mov dx, STEP_PORT
        in eax, dx
        add ebx, eax
        add [COUNTER], eax
        mov eax, ebx
        mov dx, PROGRESS
        out dx, eax
        cmp ebx, TARGET
        jb .count

        mov esi, count_msg
        call puts
        mov eax, ebx
        call puthex
        mov esi, memory_msg
        call puts
        mov eax, [COUNTER]
        call puthex
        call putnl

        mov esi, lvt_msg
        call puts
        mov eax, [LAPIC + 0x320]
        call puthex
        mov esi, initial_msg
        call puts
        mov eax, [LAPIC + 0x380]
        call puthex
        mov esi, divide_msg
        call puts
        mov eax, [LAPIC + 0x3E0]
        call puthex
        call putnl

        mov esi, redir_msg
        call puts
        mov dword [IOAPIC], 0x10 + 2 * REDIR_PIN
        mov eax, [IOAPIC + 0x10]
        call puthex
        mov esi, imr_msg
        call puts
        in al, 0x21
        movzx eax, al
        call puthex
        call putnl

        mov al, 0
        ret

ready_msg:   db "counting", 10, 0
count_msg:   db "count ", 0
memory_msg:  db " memory ", 0
lvt_msg:     db "lvt timer ", 0
initial_msg: db " initial ", 0
divide_msg:  db " divide ", 0
redir_msg:   db "ioapic pin 5 ", 0
imr_msg:     db " pic imr ", 0

%include "reset.inc"
