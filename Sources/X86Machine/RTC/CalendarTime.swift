/// A UTC calendar date and time of day, converted to and from seconds since the Unix epoch
/// with the proleptic Gregorian calendar (days-from-civil arithmetic, no libc time zone state).
struct CalendarTime: Equatable {
    var year: Int
    var month: Int   // 1...12
    var day: Int     // 1...31
    var hour: Int    // 0...23
    var minute: Int  // 0...59
    var second: Int  // 0...59

    /// Day of the week, 1 = Sunday … 7 = Saturday (the MC146818 convention).
    var weekday: Int {
        let days = Self.daysFromCivil(year: year, month: month, day: day)
        // 1970-01-01 was a Thursday (5 in 1-based Sunday-first numbering).
        return Int(((days % 7) + 7 + 4) % 7) + 1
    }

    init(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
        self.second = second
    }

    init(secondsSinceEpoch t: Int64) {
        let days = t >= 0 ? t / 86_400 : (t - 86_399) / 86_400
        let secs = Int(t - days * 86_400)
        let (y, m, d) = Self.civilFromDays(days)
        self.init(year: y, month: m, day: d, hour: secs / 3600, minute: secs / 60 % 60, second: secs % 60)
    }

    /// Seconds since the epoch. Out-of-range fields are carried into the next larger unit
    /// (day 32 of January is 1 February), which keeps guest-written garbage well defined.
    var secondsSinceEpoch: Int64 {
        let monthIndex = month - 1
        let y = year + (monthIndex >= 0 ? monthIndex / 12 : (monthIndex - 11) / 12)
        let m = ((monthIndex % 12) + 12) % 12 + 1
        let days = Self.daysFromCivil(year: y, month: m, day: 1) + Int64(day - 1)
        return days * 86_400 + Int64(hour) * 3600 + Int64(minute) * 60 + Int64(second)
    }

    /// Days since 1970-01-01 of a Gregorian date (Howard Hinnant's `days_from_civil`).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = Int64((month + 9) % 12)
        let doy = (153 * mp + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The Gregorian date of a day number since 1970-01-01 (`civil_from_days`).
    static func civilFromDays(_ z0: Int64) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        return (Int(y), Int(m), Int(d))
    }
}
