//! MS-DOS date and time (APPNOTE 4.4.6) and conversion from Unix seconds.
//!
//! DOS times have two-second resolution, no time zone and cover 1980–2107. lakezip writes
//! them in UTC and also writes the extended timestamp extra field (exact Unix seconds),
//! which readers prefer.

/// Converts Unix seconds (UTC) to `(dos_time, dos_date)`, clamped to 1980-01-01..2107-12-31.
pub fn unix_to_dos(unix_seconds: i64) -> (u16, u16) {
    const MIN: i64 = 315_532_800; // 1980-01-01T00:00:00Z
    const MAX: i64 = 4_354_819_198; // 2107-12-31T23:59:58Z
    let t = unix_seconds.clamp(MIN, MAX);
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let time = ((secs / 3600) << 11) | (((secs % 3600) / 60) << 5) | ((secs % 60) / 2);
    let date = ((year - 1980) << 9) | (month << 5) | day;
    // Both fit by construction of the clamp above.
    (time as u16, date as u16)
}

/// Converts a DOS `(time, date)` (taken as UTC) to Unix seconds. Invalid fields are clamped.
pub fn dos_to_unix(time: u16, date: u16) -> i64 {
    let year = i64::from(date >> 9) + 1980;
    let month = i64::from((date >> 5) & 0xF).clamp(1, 12);
    let day = i64::from(date & 0x1F).clamp(1, 31);
    let hour = i64::from(time >> 11).min(23);
    let minute = i64::from((time >> 5) & 0x3F).min(59);
    let second = (i64::from(time & 0x1F) * 2).min(59);
    days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
}

/// Howard Hinnant's days-from-civil algorithm (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Formats Unix seconds as RFC 3339 UTC (`2024-01-31T12:00:00Z`).
pub fn rfc3339(unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let secs = unix_seconds.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dos_round_trip_even_seconds() {
        for t in [315_532_800_i64, 1_700_000_000, 1_234_567_890, 4_354_819_198] {
            let (time, date) = unix_to_dos(t);
            assert_eq!(dos_to_unix(time, date), t - t % 2);
        }
    }

    #[test]
    fn rfc3339_known_value() {
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
