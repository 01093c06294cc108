import CXen
import Testing
@testable import XenGlue
#if canImport(Glibc)
import Glibc
#endif

/// The real libxen path on this host, and the C layouts it shares with Xen.
@Suite struct LibxenTests {
    static let onXen = access(XenGlueInfo.privcmdPath, F_OK) == 0

    /// libxendevicemodel's `is_mmio` argument is really the range type
    /// (`XEN_DMOP_IO_RANGE_PORT`/`MEMORY`/`PCI`), and Xen files the range by it.
    @Test func ioRangeCallsPassTheRangeType() {
        #expect(LibxenDeviceModelControl.ioRangeType(.port) == Int32(XEN_DMOP_IO_RANGE_PORT))
        #expect(LibxenDeviceModelControl.ioRangeType(.memory) == Int32(XEN_DMOP_IO_RANGE_MEMORY))
        #expect(LibxenDeviceModelControl.ioRangeType(.pci) == Int32(XEN_DMOP_IO_RANGE_PCI))
    }

    @Test func ioreqLayoutComesFromTheXenHeaders() {
        // Values fixed by Xen's ABI (xen/include/public/hvm/ioreq.h); checked, not copied.
        #expect(MemoryLayout<ioreq_t>.size == 32)
        #expect(MemoryLayout<ioreq_t>.offset(of: \ioreq_t.data) == 8)
        #expect(MemoryLayout<ioreq_t>.offset(of: \ioreq_t.vp_eport) == 24)
        #expect(MemoryLayout<buf_ioreq_t>.size == 8)
        #expect(swiftdm_ioreq_slots_per_page() == 128)
        #expect(IOREQ_BUFFER_SLOT_NUM == 511)
        // Bitfields land where Xen puts them: state in the low nibble of byte 30, then
        // data_is_ptr, dir, df (the top bit is padding).
        var r = swiftdm_ioreq_make(0, 0, 0, 0, 0, 0xf, 1, 1, 1, 0x7)
        let bytes = withUnsafeBytes(of: &r) { Array($0) }
        #expect(bytes[30] == 0x7f)
        #expect(bytes[31] == 0x07)
        var b = swiftdm_bufioreq_make(0x01, 1, 3, 0xabcde, 0x1234_5678)
        let bb = withUnsafeBytes(of: &b) { Array($0) }
        #expect(bb[0] == 0x01)
        #expect(bb[1] & 0x0e == 0x0e, "dir and size in bits 1-3 of byte 1")
        #expect(UInt32(bb[1] >> 4) | UInt32(bb[2]) << 4 | UInt32(bb[3]) << 12 == 0xabcde, "addr in bits 12-31")
    }

    @Test(.enabled(if: !onXen, "SKIP: this host has /dev/xen/privcmd (a Xen dom0); the no-Xen error cannot occur"))
    func openingLibxenWithoutXenFailsClearly() {
        do {
            _ = try XenHypervisor.openLibxen()
            Issue.record("libxen opened without /dev/xen/privcmd")
        } catch {
            #expect(error == .notRunningOnXen(missing: "/dev/xen/privcmd"))
            #expect(error.description == "not running on Xen: /dev/xen/privcmd does not exist (swiftdm xen needs a Xen dom0)")
        }
    }
}
