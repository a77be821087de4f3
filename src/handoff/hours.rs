//! Business hours: when agents answer. Outside them the fan still joins the
//! queue but is told when the team is back instead of an estimated wait.

use serde::{Deserialize, Serialize};

/// Opening hours in one fixed UTC offset, e.g.
/// `{ utc_offset_minutes: 60, days: [mon, tue, wed, thu, fri], open: "09:00", close: "18:00" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessHours {
    /// Offset of the local time from UTC, in minutes.
    #[serde(default)]
    pub utc_offset_minutes: i32,
    /// Open days.
    pub days: Vec<Weekday>,
    /// Opening time, `HH:MM` local.
    pub open: String,
    /// Closing time, `HH:MM` local (exclusive).
    pub close: String,
}

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

const DAYS: [Weekday; 7] =
    [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];

impl BusinessHours {
    /// Checks the times parse and open precedes close.
    pub fn validate(&self) -> Result<(), String> {
        let (open, close) = (minutes(&self.open)?, minutes(&self.close)?);
        if open >= close {
            return Err(format!("open ({}) must be before close ({})", self.open, self.close));
        }
        if self.days.is_empty() {
            return Err("days must name at least one day".into());
        }
        Ok(())
    }

    /// Whether agents answer at `now_ms` (ms since the epoch).
    pub fn is_open(&self, now_ms: i64) -> bool {
        let (Ok(open), Ok(close)) = (minutes(&self.open), minutes(&self.close)) else {
            return true;
        };
        let local = now_ms / 60_000 + i64::from(self.utc_offset_minutes);
        let day = local.div_euclid(24 * 60);
        let minute = local.rem_euclid(24 * 60) as u32;
        // 1970-01-01 was a Thursday.
        let weekday = DAYS[(day + 3).rem_euclid(7) as usize];
        self.days.contains(&weekday) && (open..close).contains(&minute)
    }
}

/// `HH:MM` as minutes after midnight.
fn minutes(hhmm: &str) -> Result<u32, String> {
    let bad = || format!("{hhmm:?} is not a time like 09:30");
    let (h, m) = hhmm.split_once(':').ok_or_else(bad)?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 24 || m > 59 || (h == 24 && m > 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours() -> BusinessHours {
        BusinessHours {
            utc_offset_minutes: 60,
            days: vec![Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri],
            open: "09:00".into(),
            close: "18:00".into(),
        }
    }

    #[test]
    fn open_on_weekdays_within_local_hours() {
        // 2026-11-27 is a Friday. 08:30 UTC is 09:30 at UTC+1.
        let friday_0830_utc = 1_795_768_200_000;
        assert!(hours().is_open(friday_0830_utc));
        // 07:30 UTC is 08:30 local: closed.
        assert!(!hours().is_open(friday_0830_utc - 3_600_000));
        // 17:30 UTC is 18:30 local: closed.
        assert!(!hours().is_open(friday_0830_utc + 9 * 3_600_000));
        // Saturday 09:30 local: closed.
        assert!(!hours().is_open(friday_0830_utc + 24 * 3_600_000));
    }

    #[test]
    fn bad_times_are_reported() {
        let mut h = hours();
        assert!(h.validate().is_ok());
        h.open = "9am".into();
        assert!(h.validate().unwrap_err().contains("9am"));
        h.open = "19:00".into();
        assert!(h.validate().unwrap_err().contains("before close"));
    }
}
