import DeviceModel
import Synchronization

/// The PC's CMOS RAM and MC146818-compatible real-time clock at ports 0x70 (index) and 0x71
/// (data).
///
/// - Index port: bits 6:0 select one of 128 bytes; bit 7 is the NMI mask (kept, see
///   ``nmiDisabled``). Reading the index port returns 0xFF, as on QEMU.
/// - Clock: seconds, minutes, hours (12- or 24-hour), weekday, day, month, year and century
///   (0x32) follow the host's UTC wall clock plus a guest-set offset, in BCD or binary per
///   register B. Writing a time register (or setting the time with B.SET, then clearing it)
///   moves the offset; the weekday is derived from the date. Register A reports UIP during the
///   last 244 µs of each second; register C reports update-ended (UF) once per elapsed second;
///   register D always reports valid RAM and time.
/// - Firmware fields: base/extended memory, memory above 16 MiB and above 4 GiB (64 KiB units)
///   and the CPU count are filled in at creation as QEMU's `pc_cmos_init` does; SeaBIOS sizes
///   RAM from them when no fw_cfg is present.
///
/// The alarm and periodic interrupts are not generated: no IRQ 8 is raised, the alarm registers
/// are plain storage and register C never reports AF, PF or IRQF.
public final class CMOS: ByteRegisterDevice, Sendable {
    /// The two ports: index (offset 0) and data (offset 1).
    public static let portCount: UInt64 = 2

    private struct State {
        var index: UInt8 = 0
        var nmiDisabled = false
        var ram = [UInt8](repeating: 0, count: 128)
        /// Guest time minus host wall time, in whole seconds (seconds keep any guest-written
        /// year representable; the sub-second phase follows the host).
        var offsetSeconds: Int64 = 0
        /// The frozen time while register B.SET is 1.
        var frozen: CalendarTime?
        /// The guest second at which register C was last read (for UF).
        var lastStatusCSecond: Int64
    }

    private let state: Mutex<State>
    private let clock: any HostClock

    /// Creates the CMOS with the firmware memory-size fields of `layout` and `cpuCount`.
    public convenience init(layout: X86MemoryLayout, cpuCount: Int, clock: any HostClock = SystemHostClock()) {
        self.init(ramBelow4GiB: layout.lowRAMSize, ramAbove4GiB: layout.highRAMSize, cpuCount: cpuCount, clock: clock)
    }

    /// Creates the CMOS with explicit RAM sizes (bytes below and above 4 GiB).
    public init(ramBelow4GiB: UInt64, ramAbove4GiB: UInt64, cpuCount: Int, clock: any HostClock = SystemHostClock()) {
        self.clock = clock
        var ram = [UInt8](repeating: 0, count: 128)
        ram[Int(CMOSIndex.statusA)] = RTCStatus.dividerNormal | 0x06  // 1024 Hz periodic rate
        ram[Int(CMOSIndex.statusB)] = RTCStatus.twentyFourHour          // BCD, 24-hour
        ram[Int(CMOSIndex.equipment)] = 0x02                             // math coprocessor present
        for (index, value) in Self.memorySizeFields(ramBelow4GiB: ramBelow4GiB, ramAbove4GiB: ramAbove4GiB) {
            ram[Int(index)] = value
        }
        ram[Int(CMOSIndex.cpuCountMinusOne)] = UInt8(clamping: max(1, cpuCount) - 1)
        let sum = ram[0x10...0x2D].reduce(UInt16(0)) { $0 &+ UInt16($1) }
        ram[Int(CMOSIndex.checksumHigh)] = UInt8(sum >> 8)
        ram[Int(CMOSIndex.checksumLow)] = UInt8(sum & 0xFF)
        let now = Self.floorSeconds(clock.realtimeNanoseconds())
        self.state = Mutex(State(ram: ram, lastStatusCSecond: now))
    }

    /// The memory-size bytes firmware reads, by CMOS index (QEMU `pc_cmos_init`).
    public static func memorySizeFields(ramBelow4GiB low: UInt64, ramAbove4GiB high: UInt64) -> [(index: UInt8, value: UInt8)] {
        let kib: UInt64 = 1024
        let mib: UInt64 = 1024 * kib
        let base = min(low / kib, 640)
        let extended = min(low > mib ? (low - mib) / kib : 0, 65535)
        let above16M = min(low > 16 * mib ? (low - 16 * mib) / (64 * kib) : 0, 65535)
        let above4G = min(high / (64 * kib), 0xFF_FFFF)
        return [
            (CMOSIndex.baseMemoryLow, UInt8(truncatingIfNeeded: base)),
            (CMOSIndex.baseMemoryHigh, UInt8(truncatingIfNeeded: base >> 8)),
            (CMOSIndex.extendedMemoryLow, UInt8(truncatingIfNeeded: extended)),
            (CMOSIndex.extendedMemoryHigh, UInt8(truncatingIfNeeded: extended >> 8)),
            (CMOSIndex.extendedMemoryCopyLow, UInt8(truncatingIfNeeded: extended)),
            (CMOSIndex.extendedMemoryCopyHigh, UInt8(truncatingIfNeeded: extended >> 8)),
            (CMOSIndex.memoryAbove16MiBLow, UInt8(truncatingIfNeeded: above16M)),
            (CMOSIndex.memoryAbove16MiBHigh, UInt8(truncatingIfNeeded: above16M >> 8)),
            (CMOSIndex.memoryAbove4GiBLow, UInt8(truncatingIfNeeded: above4G)),
            (CMOSIndex.memoryAbove4GiBMiddle, UInt8(truncatingIfNeeded: above4G >> 8)),
            (CMOSIndex.memoryAbove4GiBHigh, UInt8(truncatingIfNeeded: above4G >> 16)),
        ]
    }

    /// Whether the guest last wrote the index port with bit 7 (NMI disable) set. Recorded only:
    /// the backends deliver no NMIs from the platform.
    public var nmiDisabled: Bool { state.withLock { $0.nmiDisabled } }

    /// The byte at CMOS `index` as the guest would read it (for the launcher and tests).
    public func byte(at index: UInt8) -> UInt8 {
        state.withLock { s in readData(index & 0x7F, &s) }
    }

    func readByte(at offset: UInt64) -> UInt8 {
        guard offset == 1 else { return 0xFF }
        return state.withLock { s in readData(s.index, &s) }
    }

    func writeByte(at offset: UInt64, value: UInt8) {
        state.withLock { s in
            if offset == 0 {
                s.index = value & 0x7F
                s.nmiDisabled = value & 0x80 != 0
            } else if offset == 1 {
                writeData(s.index, value, &s)
            }
        }
    }

    // MARK: - Data register

    private func readData(_ index: UInt8, _ s: inout State) -> UInt8 {
        switch index {
        case CMOSIndex.seconds, CMOSIndex.minutes, CMOSIndex.hours, CMOSIndex.weekday,
            CMOSIndex.dayOfMonth, CMOSIndex.month, CMOSIndex.year, CMOSIndex.century:
            return encodeTimeField(index, currentTime(s), statusB: s.ram[Int(CMOSIndex.statusB)])
        case CMOSIndex.statusA:
            var v = s.ram[Int(CMOSIndex.statusA)] & ~RTCStatus.updateInProgress
            if updateInProgress(s) { v |= RTCStatus.updateInProgress }
            return v
        case CMOSIndex.statusC:
            let now = guestSeconds(s)
            var v: UInt8 = 0
            if s.frozen == nil, now != s.lastStatusCSecond { v |= RTCStatus.updateEndedFlag }
            s.lastStatusCSecond = now
            return v
        case CMOSIndex.statusD:
            return RTCStatus.validRAMAndTime
        default:
            return s.ram[Int(index & 0x7F)]
        }
    }

    private func writeData(_ index: UInt8, _ value: UInt8, _ s: inout State) {
        switch index {
        case CMOSIndex.seconds, CMOSIndex.minutes, CMOSIndex.hours, CMOSIndex.dayOfMonth,
            CMOSIndex.month, CMOSIndex.year, CMOSIndex.century:
            var t = currentTime(s)
            decodeTimeField(index, value, statusB: s.ram[Int(CMOSIndex.statusB)], into: &t)
            if s.frozen != nil {
                s.frozen = t
            } else {
                s.offsetSeconds = t.secondsSinceEpoch &- hostSeconds()
            }
        case CMOSIndex.weekday:
            break  // derived from the date
        case CMOSIndex.statusA:
            s.ram[Int(index)] = value & ~RTCStatus.updateInProgress
        case CMOSIndex.statusB:
            let wasSet = s.ram[Int(index)] & RTCStatus.set != 0
            var v = value
            if v & RTCStatus.set != 0 {
                // Setting SET aborts any update cycle and clears UIE (MC146818A register B).
                v &= ~RTCStatus.updateEndedInterruptEnable
                if !wasSet { s.frozen = currentTime(s) }
            } else if wasSet, let t = s.frozen {
                s.offsetSeconds = t.secondsSinceEpoch &- hostSeconds()
                s.frozen = nil
            }
            s.ram[Int(index)] = v
        case CMOSIndex.statusC, CMOSIndex.statusD:
            break  // read-only
        default:
            s.ram[Int(index & 0x7F)] = value
        }
    }

    // MARK: - Clock

    private func hostSeconds() -> Int64 { Self.floorSeconds(clock.realtimeNanoseconds()) }

    private func guestSeconds(_ s: State) -> Int64 { hostSeconds() &+ s.offsetSeconds }

    private func currentTime(_ s: State) -> CalendarTime {
        s.frozen ?? CalendarTime(secondsSinceEpoch: guestSeconds(s))
    }

    private func updateInProgress(_ s: State) -> Bool {
        guard s.frozen == nil, s.ram[Int(CMOSIndex.statusA)] & RTCStatus.dividerMask == RTCStatus.dividerNormal else {
            return false
        }
        let ns = clock.realtimeNanoseconds()
        let fraction = ns - Self.floorSeconds(ns) * 1_000_000_000
        return fraction >= 1_000_000_000 - RTCStatus.updateInProgressNanoseconds
    }

    private static func floorSeconds(_ ns: Int64) -> Int64 {
        ns >= 0 ? ns / 1_000_000_000 : (ns - 999_999_999) / 1_000_000_000
    }

    private func encodeTimeField(_ index: UInt8, _ t: CalendarTime, statusB: UInt8) -> UInt8 {
        let binary = statusB & RTCStatus.binaryMode != 0
        func encode(_ v: Int) -> UInt8 {
            let v = ((v % 100) + 100) % 100
            return binary ? UInt8(v) : UInt8((v / 10) << 4 | v % 10)
        }
        switch index {
        case CMOSIndex.seconds: return encode(t.second)
        case CMOSIndex.minutes: return encode(t.minute)
        case CMOSIndex.hours:
            if statusB & RTCStatus.twentyFourHour != 0 { return encode(t.hour) }
            let h12 = t.hour % 12 == 0 ? 12 : t.hour % 12
            return encode(h12) | (t.hour >= 12 ? 0x80 : 0)
        case CMOSIndex.weekday: return encode(t.weekday)
        case CMOSIndex.dayOfMonth: return encode(t.day)
        case CMOSIndex.month: return encode(t.month)
        case CMOSIndex.year: return encode(t.year % 100)
        default: return encode(t.year / 100)  // century
        }
    }

    private func decodeTimeField(_ index: UInt8, _ raw: UInt8, statusB: UInt8, into t: inout CalendarTime) {
        let binary = statusB & RTCStatus.binaryMode != 0
        func decode(_ v: UInt8) -> Int { binary ? Int(v) : Int(v >> 4) * 10 + Int(v & 0x0F) }
        switch index {
        case CMOSIndex.seconds: t.second = decode(raw)
        case CMOSIndex.minutes: t.minute = decode(raw)
        case CMOSIndex.hours:
            if statusB & RTCStatus.twentyFourHour != 0 {
                t.hour = decode(raw)
            } else {
                t.hour = decode(raw & 0x7F) % 12 + (raw & 0x80 != 0 ? 12 : 0)
            }
        case CMOSIndex.dayOfMonth: t.day = decode(raw)
        case CMOSIndex.month: t.month = decode(raw)
        case CMOSIndex.year: t.year = t.year / 100 * 100 + decode(raw) % 100
        default: t.year = decode(raw) * 100 + t.year % 100  // century
        }
    }
}

// MARK: System reset

extension CMOS: SystemResettable {
    /// What the MC146818's RESET pin does: the interrupt enables of register B (PIE, AIE, UIE,
    /// SQWE) clear, as QEMU's `rtc_reset` clears them. The battery-backed RAM, the time and the
    /// rest of register B stay: firmware reads what the OS left there (the shutdown status
    /// byte 0x0F, boot flags) after a reboot. The index register rewinds to 0.
    public func systemReset() {
        state.withLock { s in
            s.index = 0
            s.nmiDisabled = false
            s.ram[Int(CMOSIndex.statusB)] &= ~RTCStatus.resetClearedEnables
        }
    }
}

// MARK: Device state

extension CMOS: DeviceStateful {
    static let stateKind = "mc146818-cmos"

    /// The clock is saved as its offset from the host's wall clock, so a restored guest's RTC
    /// keeps the time it was set to relative to real time (as QEMU's `rtc base=utc` does).
    public func saveState(id: String) -> DeviceStateRecord {
        var r = DeviceStateRecord(id: id, kind: Self.stateKind, version: 1)
        state.withLock { s in
            r.set("index", s.index)
            r.set("nmi-disabled", s.nmiDisabled)
            r.set("ram", bytes: s.ram)
            r.set("offset-seconds", UInt64(bitPattern: s.offsetSeconds))
            if let f = s.frozen {
                r.set("frozen", array: [UInt64(bitPattern: Int64(f.year)), UInt64(f.month), UInt64(f.day),
                                        UInt64(f.hour), UInt64(f.minute), UInt64(f.second)])
            }
            r.set("last-status-c-second", UInt64(bitPattern: s.lastStatusCSecond))
        }
        return r
    }

    public func restoreState(_ r: DeviceStateRecord) throws(DeviceStateError) {
        try r.expect(kind: Self.stateKind, versions: 1...1)
        let index: UInt8 = try r.integer("index")
        guard index < 128 else { throw r.invalid("index", index, expected: "below 128") }
        let nmi = try r.bool("nmi-disabled")
        let ram = try r.bytes("ram", count: 128)
        let offset = Int64(bitPattern: try r.unsigned("offset-seconds"))
        var frozen: CalendarTime?
        if r.value("frozen") != nil {
            let f = try r.unsignedArray("frozen", count: 6)
            let t = CalendarTime(year: Int(Int64(bitPattern: f[0])), month: Int(f[1]), day: Int(f[2]),
                                 hour: Int(f[3]), minute: Int(f[4]), second: Int(f[5]))
            guard (1...12).contains(t.month), (1...31).contains(t.day), t.hour < 24, t.minute < 60, t.second < 60,
                  (0...9999).contains(t.year) else {
                throw r.invalid("frozen", "\(f)", expected: "a calendar time (year 0–9999)")
            }
            frozen = t
        }
        let lastC = Int64(bitPattern: try r.unsigned("last-status-c-second"))
        state.withLock { s in
            s.index = index
            s.nmiDisabled = nmi
            s.ram = ram
            s.offsetSeconds = offset
            s.frozen = frozen
            s.lastStatusCSecond = lastC
        }
    }
}
