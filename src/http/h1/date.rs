//! The `Date` header value: an IMF-fixdate (`Tue, 15 Nov 1994 08:12:31 GMT`), formatted by
//! hand and cached per thread for the current second.

use std::cell::RefCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;

/// Length of an IMF-fixdate: always 29 bytes.
pub const HTTP_DATE_LEN: usize = 29;

/// `Date: ` and its value and line end: the whole field line a response head takes.
const LINE_LEN: usize = 6 + HTTP_DATE_LEN + 2;

thread_local! {
    /// `(start of a second, start of the next, its formatted field line)`; an empty
    /// span until filled. Comparing times is cheaper than turning one into seconds.
    static CACHE: RefCell<(SystemTime, SystemTime, [u8; LINE_LEN])> =
        const { RefCell::new((UNIX_EPOCH, UNIX_EPOCH, [0; LINE_LEN])) };
}

/// Formats `secs` seconds after the Unix epoch as an IMF-fixdate.
///
/// ```
/// let d = squall::http::h1::http_date(784887151);
/// assert_eq!(&d, b"Tue, 15 Nov 1994 08:12:31 GMT");
/// ```
pub fn http_date(secs: u64) -> [u8; HTTP_DATE_LEN] {
    const DAYS: &[u8; 21] = b"ThuFriSatSunMonTueWed";
    const MONTHS: &[u8; 36] = b"JanFebMarAprMayJunJulAugSepOctNovDec";
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    let wd = (days % 7) as usize * 3;
    out[..3].copy_from_slice(&DAYS[wd..wd + 3]);
    two_digits(&mut out[5..7], day);
    let m = (month as usize - 1) * 3;
    out[8..11].copy_from_slice(&MONTHS[m..m + 3]);
    two_digits(&mut out[12..14], (year / 100) % 100);
    two_digits(&mut out[14..16], year % 100);
    two_digits(&mut out[17..19], rem / 3600);
    two_digits(&mut out[20..22], rem / 60 % 60);
    two_digits(&mut out[23..25], rem % 60);
    out
}

/// Appends the IMF-fixdate of the current second, formatting it at most once per second
/// per thread.
///
/// ```
/// let mut buf = bytes::BytesMut::new();
/// squall::http::h1::write_date(&mut buf);
/// assert_eq!(buf.len(), 29);
/// assert!(buf.ends_with(b" GMT"));
/// ```
pub fn write_date(dst: &mut BytesMut) {
    write_date_at(dst, SystemTime::now());
}

/// Appends the IMF-fixdate of `at` (a server passes its loop's wall time, which a
/// virtual clock moves), formatting at most once per second per thread.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let mut buf = bytes::BytesMut::new();
/// squall::http::h1::write_date_at(&mut buf, UNIX_EPOCH + Duration::from_secs(784887151));
/// assert_eq!(&buf[..], b"Tue, 15 Nov 1994 08:12:31 GMT");
/// ```
pub fn write_date_at(dst: &mut BytesMut, at: SystemTime) {
    with_date_line(at, |line| {
        dst.extend_from_slice(&line[6..6 + HTTP_DATE_LEN])
    });
}

/// Appends the field line `Date: <IMF-fixdate of at>\r\n`, in one copy.
pub(crate) fn write_date_line(dst: &mut BytesMut, at: SystemTime) {
    with_date_line(at, |line| dst.extend_from_slice(line));
}

fn with_date_line(at: SystemTime, f: impl FnOnce(&[u8; LINE_LEN])) {
    CACHE.with_borrow_mut(|(from, to, line)| {
        if at < *from || at >= *to {
            let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            line[..6].copy_from_slice(b"Date: ");
            line[6..6 + HTTP_DATE_LEN].copy_from_slice(&http_date(secs));
            line[6 + HTTP_DATE_LEN..].copy_from_slice(b"\r\n");
            *from = UNIX_EPOCH + Duration::from_secs(secs);
            *to = *from + Duration::from_secs(1);
        }
        f(line);
    });
}

fn two_digits(out: &mut [u8], n: u64) {
    out[0] = b'0' + (n / 10 % 10) as u8;
    out[1] = b'0' + (n % 10) as u8;
}

/// Days since 1970-01-01 to `(year, month 1..=12, day 1..=31)` in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> String {
        String::from_utf8(http_date(secs).to_vec()).unwrap()
    }

    #[test]
    fn known_dates() {
        assert_eq!(s(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(s(784_887_151), "Tue, 15 Nov 1994 08:12:31 GMT");
        assert_eq!(s(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(s(1_709_251_199), "Thu, 29 Feb 2024 23:59:59 GMT");
        assert_eq!(s(4_102_444_800), "Fri, 01 Jan 2100 00:00:00 GMT");
        assert_eq!(s(253_402_300_799), "Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn every_day_round_trips() {
        // Walk day by day for 1200 years and check the calendar advances consistently.
        let mut prev = civil_from_days(0);
        for d in 1..(1200 * 366) {
            let cur = civil_from_days(d);
            let next_day = (prev.0, prev.1, prev.2 + 1);
            let next_month = (prev.0, prev.1 + 1, 1);
            let next_year = (prev.0 + 1, 1, 1);
            assert!(
                cur == next_day || cur == next_month || cur == next_year,
                "{prev:?} -> {cur:?}"
            );
            prev = cur;
        }
    }

    #[test]
    fn cached_date_is_current() {
        let mut a = BytesMut::new();
        write_date(&mut a);
        write_date(&mut a);
        assert_eq!(a.len(), 2 * HTTP_DATE_LEN);
        assert!(a[..HTTP_DATE_LEN].ends_with(b" GMT") && a[3] == b',');
    }

    #[test]
    fn the_cached_second_is_replaced_when_time_moves_either_way() {
        let at = |secs: u64, nanos: u32| UNIX_EPOCH + Duration::new(secs, nanos);
        let mut out = BytesMut::new();
        for (t, want) in [
            (at(784887151, 0), "Tue, 15 Nov 1994 08:12:31 GMT"),
            (at(784887151, 999_999_999), "Tue, 15 Nov 1994 08:12:31 GMT"),
            (at(784887152, 0), "Tue, 15 Nov 1994 08:12:32 GMT"),
            (at(784887150, 500), "Tue, 15 Nov 1994 08:12:30 GMT"),
            (
                UNIX_EPOCH - Duration::from_secs(5),
                "Thu, 01 Jan 1970 00:00:00 GMT",
            ),
            (at(0, 0), "Thu, 01 Jan 1970 00:00:00 GMT"),
        ] {
            out.clear();
            write_date_at(&mut out, t);
            assert_eq!(std::str::from_utf8(&out).unwrap(), want, "{t:?}");
        }
    }
}
