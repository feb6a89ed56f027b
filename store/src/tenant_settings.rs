//! A tenant's settings, which both sides read: its time zone, whose day is
//! "today" of a follow-up list. A tenant without saved settings has the
//! defaults.

use chrono::{DateTime, Days, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use sqlx::PgPool;
use uuid::Uuid;

/// The time zone of a tenant that set none: most of our tenants are in
/// mainland China.
pub const DEFAULT_TIME_ZONE: Tz = chrono_tz::Asia::Shanghai;

/// An IANA time zone name (`Asia/Shanghai`, `Europe/Berlin`), as the time
/// zone database this build carries knows it.
pub fn parse_time_zone(name: &str) -> Result<Tz, String> {
    name.trim().parse::<Tz>().map_err(|_| {
        format!("{name:?} is not an IANA time zone name such as Asia/Shanghai or Europe/Berlin")
    })
}

/// The tenant's time zone.
pub async fn time_zone(pool: &PgPool, tenant_id: Uuid) -> Result<Tz, sqlx::Error> {
    let stored: Option<String> =
        sqlx::query_scalar("SELECT time_zone FROM tenant_settings WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_optional(pool)
            .await?;
    // A name this build does not know (saved by a newer one) falls back to
    // the default rather than failing every list.
    Ok(stored
        .and_then(|name| parse_time_zone(&name).ok())
        .unwrap_or(DEFAULT_TIME_ZONE))
}

/// Saves the tenant's time zone.
pub async fn set_time_zone(
    pool: &PgPool,
    tenant_id: Uuid,
    time_zone: Tz,
    by: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO tenant_settings (tenant_id, time_zone, updated_by) VALUES ($1, $2, $3)
         ON CONFLICT (tenant_id) DO UPDATE
            SET time_zone = EXCLUDED.time_zone, updated_by = EXCLUDED.updated_by,
                updated_at = now()",
    )
    .bind(tenant_id)
    .bind(time_zone.name())
    .bind(by)
    .execute(pool)
    .await?;
    Ok(())
}

/// The instant the local day `days` after the day of `now` begins in `zone`.
/// A day begins at local midnight or, where a clock change skips midnight
/// (some zones spring forward at 00:00), at the first instant that exists.
pub fn day_start(zone: Tz, now: DateTime<Utc>, days: u64) -> DateTime<Utc> {
    let date = now.with_timezone(&zone).date_naive();
    let date = date.checked_add_days(Days::new(days)).unwrap_or(date);
    let mut local = date.and_time(NaiveTime::MIN);
    // At most a few hours of a day can be skipped by a clock change.
    for _ in 0..(24 * 4) {
        if let Some(start) = zone.from_local_datetime(&local).earliest() {
            return start.with_timezone(&Utc);
        }
        local += chrono::Duration::minutes(15);
    }
    now
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("instant")
            .with_timezone(&Utc)
    }

    #[test]
    fn shanghai_days_begin_at_16_utc_the_evening_before() {
        // 23:59 in Shanghai is still today; one minute later tomorrow is today.
        let late = utc("2026-12-08T15:59:00Z");
        assert_eq!(
            day_start(DEFAULT_TIME_ZONE, late, 0),
            utc("2026-12-07T16:00:00Z")
        );
        assert_eq!(
            day_start(DEFAULT_TIME_ZONE, late, 1),
            utc("2026-12-08T16:00:00Z")
        );
        let after_midnight = utc("2026-12-08T16:00:00Z");
        assert_eq!(
            day_start(DEFAULT_TIME_ZONE, after_midnight, 0),
            utc("2026-12-08T16:00:00Z")
        );
    }

    #[test]
    fn days_across_a_daylight_saving_change_are_23_or_25_hours() {
        let berlin = parse_time_zone("Europe/Berlin").expect("zone");
        // 2026-03-29: clocks go from 02:00 to 03:00 (a 23-hour day).
        let spring = utc("2026-03-29T10:00:00Z");
        let length = day_start(berlin, spring, 1) - day_start(berlin, spring, 0);
        assert_eq!(length, chrono::Duration::hours(23));
        // 2026-10-25: clocks go from 03:00 back to 02:00 (a 25-hour day).
        let autumn = utc("2026-10-25T10:00:00Z");
        let length = day_start(berlin, autumn, 1) - day_start(berlin, autumn, 0);
        assert_eq!(length, chrono::Duration::hours(25));
        assert_eq!(day_start(berlin, autumn, 0), utc("2026-10-24T22:00:00Z"));
    }

    #[test]
    fn a_day_whose_midnight_is_skipped_begins_at_its_first_instant() {
        // America/Santiago springs forward at 24:00 → 01:00 (2026-09-06).
        let santiago = parse_time_zone("America/Santiago").expect("zone");
        let start = day_start(santiago, utc("2026-09-06T15:00:00Z"), 0);
        assert_eq!(
            start.with_timezone(&santiago).format("%H:%M").to_string(),
            "01:00"
        );
    }

    #[test]
    fn time_zone_names_are_iana_names() {
        assert!(parse_time_zone("Asia/Shanghai").is_ok());
        assert!(parse_time_zone("UTC").is_ok());
        assert!(parse_time_zone("Mars/Olympus").is_err());
        assert!(parse_time_zone("").is_err());
        assert!(parse_time_zone("+08:00").is_err());
    }
}
