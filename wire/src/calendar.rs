//! The province's calendar: validity dates, ages and the rollout plan go by the day in China
//! (UTC+8), whichever time zone a machine runs in.

use chrono::{DateTime, Datelike as _, FixedOffset, NaiveDate, Utc};

/// China Standard Time.
const CHINA: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(tz) => tz,
    None => panic!("UTC+8 is a valid offset"),
};

/// The day it is in China at `now`.
pub fn china_today(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&CHINA).date_naive()
}

/// Whole years from `from` to `to` (a holder's age, an organisation's years since it was
/// established): a year counts once its anniversary is reached. Negative when `to` is earlier.
pub fn whole_years(from: NaiveDate, to: NaiveDate) -> i32 {
    let years = to.year() - from.year();
    if (to.month(), to.day()) < (from.month(), from.day()) {
        years - 1
    } else {
        years
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().expect("a date")
    }

    #[test]
    fn years_count_up_to_the_anniversary() {
        assert_eq!(whole_years(day("1966-11-26"), day("2026-11-26")), 60);
        assert_eq!(whole_years(day("1966-11-27"), day("2026-11-26")), 59);
        assert_eq!(whole_years(day("1964-02-29"), day("2026-02-28")), 61);
        assert_eq!(whole_years(day("2026-02-28"), day("2025-02-28")), -1);
    }

    #[test]
    fn the_day_changes_at_midnight_in_china() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().expect("a time");
        assert_eq!(china_today(at("2026-11-25T15:59:59Z")), day("2026-11-25"));
        assert_eq!(china_today(at("2026-11-25T16:00:00Z")), day("2026-11-26"));
    }
}
