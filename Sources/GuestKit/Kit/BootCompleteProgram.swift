import Foundation

/// A 167-byte static x86-64 Linux program that sends the boot-complete signal: it asks for
/// access to I/O port 0x3F0 (`ioperm`) and writes 123 to it, as Firecracker's boot timer
/// expects. The guest kit's `/init` runs it once its modules are loaded.
///
/// A program rather than `dd … of=/dev/port` because Debian's cloud kernel is built without
/// `CONFIG_DEVPORT`; it has `CONFIG_X86_IOPL_IOPERM`. Encoded here by hand so that building
/// the kit needs no assembler or compiler.
public enum BootCompleteProgram {
    /// Where the program lives in the initrd.
    public static let path = "bin/swiftdm-boot-complete"

    /// Where the ELF file is loaded; its code follows the two headers.
    private static let loadAddress: UInt64 = 0x40_0000
    private static let headersSize = 64 + 56

    /// ioperm(0x3F0, 1, 1); on success outb(123, 0x3F0) and exit(0), else exit(1).
    private static let code: [UInt8] = [
        0xB8, 0xAD, 0x00, 0x00, 0x00,  // mov eax, 173 (SYS_ioperm)
        0xBF, 0xF0, 0x03, 0x00, 0x00,  // mov edi, 0x3F0
        0xBE, 0x01, 0x00, 0x00, 0x00,  // mov esi, 1
        0xBA, 0x01, 0x00, 0x00, 0x00,  // mov edx, 1
        0x0F, 0x05,  // syscall
        0xBF, 0x01, 0x00, 0x00, 0x00,  // mov edi, 1 (exit status if ioperm failed)
        0x85, 0xC0,  // test eax, eax
        0x75, 0x09,  // jnz exit
        0x66, 0xBA, 0xF0, 0x03,  // mov dx, 0x3F0
        0xB0, 0x7B,  // mov al, 123
        0xEE,  // out dx, al
        0x31, 0xFF,  // xor edi, edi
        // exit:
        0xB8, 0x3C, 0x00, 0x00, 0x00,  // mov eax, 60 (SYS_exit)
        0x0F, 0x05,  // syscall
    ]

    /// The whole ELF file: header, one `PT_LOAD` program header covering the file, the code.
    public static var elf: Data {
        var d = Data()
        func le<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        let fileSize = UInt64(headersSize + code.count)
        // ELF header (e_ident: 64-bit, little-endian, version 1, System V ABI).
        d.append(contentsOf: [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0] + [UInt8](repeating: 0, count: 8))
        le(UInt16(2))  // e_type: ET_EXEC
        le(UInt16(62))  // e_machine: EM_X86_64
        le(UInt32(1))  // e_version
        le(loadAddress + UInt64(headersSize))  // e_entry
        le(UInt64(64))  // e_phoff
        le(UInt64(0))  // e_shoff
        le(UInt32(0))  // e_flags
        le(UInt16(64))  // e_ehsize
        le(UInt16(56))  // e_phentsize
        le(UInt16(1))  // e_phnum
        le(UInt16(64))  // e_shentsize
        le(UInt16(0))  // e_shnum
        le(UInt16(0))  // e_shstrndx
        // Program header: PT_LOAD, read + execute, the whole file at loadAddress.
        le(UInt32(1))  // p_type
        le(UInt32(5))  // p_flags: PF_R | PF_X
        le(UInt64(0))  // p_offset
        le(loadAddress)  // p_vaddr
        le(loadAddress)  // p_paddr
        le(fileSize)  // p_filesz
        le(fileSize)  // p_memsz
        le(UInt64(0x1000))  // p_align
        d.append(contentsOf: code)
        return d
    }
}
