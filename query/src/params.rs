//! Query-string values several routes read the same way.

use chrono::{DateTime, Utc};
use web::ApiError;

/// An RFC 3339 instant given as `field`; a 400 naming the field otherwise.
pub(crate) fn parse_instant(field: &str, raw: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|instant| instant.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::BadRequest(format!(
                "{field} must be an RFC 3339 instant, e.g. 2026-11-25T09:30:00+08:00"
            ))
        })
}
