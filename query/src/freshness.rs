//! Read-your-writes: `?min_position=N` waits until the route's projections
//! have applied the event at position N, up to two seconds, then answers with
//! what it has and marks the answer stale.

use std::time::Duration;

use axum::http::HeaderValue;
use axum::response::Response;
use sqlx::PgPool;

use projector::runner::{has_applied, Projection};
use web::ApiError;

/// Present (value `true`) when the answer may not include `min_position` yet.
pub const STALE_HEADER: &str = "x-stale";
const MAX_WAIT: Duration = Duration::from_secs(2);
const POLL: Duration = Duration::from_millis(10);

/// Waits for `min_position`; returns whether the read models include it.
pub async fn wait_for(
    pool: &PgPool,
    projections: &[Projection],
    min_position: Option<i64>,
) -> Result<bool, ApiError> {
    let Some(position) = min_position else {
        return Ok(true);
    };
    if position < 0 {
        return Err(ApiError::BadRequest(
            "min_position must be a position a command returned".into(),
        ));
    }
    let deadline = tokio::time::Instant::now() + MAX_WAIT;
    loop {
        if has_applied(pool, projections, position).await? {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(POLL).await;
    }
}

pub fn mark(mut response: Response, fresh: bool) -> Response {
    if !fresh {
        response
            .headers_mut()
            .insert(STALE_HEADER, HeaderValue::from_static("true"));
    }
    response
}
