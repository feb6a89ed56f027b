//! When a fact happened, as a caller may state it: an instant at PostgreSQL's
//! precision (microseconds) and not before [`OccurredAt::EARLIEST`]. Whether
//! it lies in the future, or before the customer's earlier facts, depends on
//! the clock and the stream: the aggregate decides those.

use chrono::{DateTime, SubsecRound, TimeZone, Utc};

use super::{invalid, InvalidValue};

/// When a registration, stage move, activity or purchase happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OccurredAt(DateTime<Utc>);

impl OccurredAt {
    /// The earliest instant a fact may be dated (the same for every tenant):
    /// 2000-01-01T00:00:00Z. Earlier dates are typing mistakes (a year 0202,
    /// a Unix epoch 1970 from an empty spreadsheet cell), not history.
    pub const EARLIEST: &'static str = "2000-01-01T00:00:00Z";

    /// [`Self::EARLIEST`] as an instant.
    pub fn earliest() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// `instant`, truncated to microseconds, unless it is before [`Self::EARLIEST`].
    pub fn new(instant: DateTime<Utc>) -> Result<Self, InvalidValue> {
        let instant = instant.trunc_subsecs(6);
        if instant < Self::earliest() {
            return Err(invalid(format!(
                "must not be before {} (the earliest date a fact may have)",
                Self::EARLIEST
            )));
        }
        Ok(Self(instant))
    }

    /// An RFC 3339 instant (`2026-11-25T09:30:00+08:00`), not before [`Self::EARLIEST`].
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let instant = DateTime::parse_from_rfc3339(raw.trim()).map_err(|_| {
            invalid("must be an RFC 3339 instant such as 2026-11-25T09:30:00+08:00")
        })?;
        Self::new(instant.with_timezone(&Utc))
    }

    pub fn instant(self) -> DateTime<Utc> {
        self.0
    }
}

impl From<OccurredAt> for DateTime<Utc> {
    fn from(value: OccurredAt) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_are_dated_from_2000_on_at_microsecond_precision() {
        assert!(OccurredAt::parse("1999-12-31T23:59:59.999999Z").is_err());
        assert!(OccurredAt::parse("2000-01-01T08:00:00+08:00").is_ok());
        assert!(OccurredAt::parse("1970-01-01T00:00:00Z").is_err());
        assert!(OccurredAt::parse("yesterday").is_err());
        let precise = OccurredAt::parse("2024-03-01T09:30:00.1234567Z").expect("instant");
        assert_eq!(
            precise.instant().timestamp_subsec_nanos(),
            123_456_000,
            "microseconds, as PostgreSQL stores them"
        );
    }
}
