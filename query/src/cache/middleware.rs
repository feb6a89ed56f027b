//! The cached routes' middleware: serves a kept answer, or runs the route
//! and keeps a fresh 200.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sqlx::PgPool;
use web::{Caller, JwtKeys};

use crate::freshness::STALE_HEADER;

use super::{Answer, ReadCache, CACHE_HEADER};

/// Middleware of the cached routes: serves a kept answer, or runs the route
/// and keeps a fresh 200. `state` is the routes' own, which holds the cache
/// and the keys that verify callers.
pub(crate) async fn serve_cached<S>(
    State(state): State<S>,
    request: Request,
    next: Next,
) -> Response
where
    S: Send + Sync,
    ReadCache: FromRef<S>,
    JwtKeys: FromRef<S>,
    PgPool: FromRef<S>,
{
    let read_cache = ReadCache::from_ref(&state);
    let Some(cache) = read_cache.inner() else {
        return next.run(request).await;
    };
    let read_your_writes = request
        .uri()
        .query()
        .is_some_and(|query| query.contains("min_position"));
    let answers_kept = !cache.settings.time_to_live.is_zero();
    if request.method() != Method::GET || read_your_writes || !answers_kept {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    // Without a valid token the route itself answers (401).
    let Ok(caller) = Caller::from_request_parts(&mut parts, &state).await else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    parts.extensions.insert(caller.clone());
    let Ok(visibility) = read_cache
        .visibility(&PgPool::from_ref(&state), &caller)
        .await
    else {
        // The route meets the same failure and answers it.
        return next.run(Request::from_parts(parts, body)).await;
    };
    let key = format!(
        "{}|{}|{}",
        caller.role.as_str(),
        visibility.key(),
        parts.uri
    );
    parts.extensions.insert(visibility.clone());
    if let Some(answer) = cache.get(caller.tenant_id, &key) {
        return answer.into_response("hit");
    }
    let generation = cache.generation(caller.tenant_id);
    let response = next.run(Request::from_parts(parts, body)).await;
    let Some(generation) = generation else {
        return response;
    };
    if response.status() != StatusCode::OK || response.headers().contains_key(STALE_HEADER) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(%error, "read cache: could not read an answer's body");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    cache.put(
        caller.tenant_id,
        generation,
        key,
        Answer {
            stored_at: Instant::now(),
            content_type: parts.headers.get(CONTENT_TYPE).cloned(),
            body: body.clone(),
        },
    );
    // A route may have said more precisely where its answer came from.
    parts
        .headers
        .entry(CACHE_HEADER)
        .or_insert(HeaderValue::from_static("miss"));
    Response::from_parts(parts, Body::from(body))
}

/// Whether a route's answer came from a kept customer record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kept {
    Yes,
    No,
}

/// Says `X-Cache: record` on an answer computed from a kept record.
pub(crate) fn from_kept_record(mut response: Response, kept: Kept) -> Response {
    if kept == Kept::Yes {
        response
            .headers_mut()
            .insert(CACHE_HEADER, HeaderValue::from_static("record"));
    }
    response
}

impl Answer {
    fn into_response(self, outcome: &'static str) -> Response {
        let mut response = Response::new(Body::from(self.body));
        if let Some(content_type) = self.content_type {
            response.headers_mut().insert(CONTENT_TYPE, content_type);
        }
        response
            .headers_mut()
            .insert(CACHE_HEADER, HeaderValue::from_static(outcome));
        response
    }
}
