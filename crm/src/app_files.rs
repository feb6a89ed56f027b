//! The mini-program's H5 build, served at `/app/` by `crm serve` when it has
//! been built (`miniprogram/dist/h5`, or `CRM_APP_DIR`): the app and the API
//! share one origin, so the app calls the API with relative URLs and no CORS.
//!
//! Taro names its scripts and styles after their content, so everything but
//! the HTML may be kept by browsers for a year; the HTML is revalidated at
//! every load, which is how a new build reaches users. Text is gzipped.

use std::path::{Path, PathBuf};

use axum::http::header::{CACHE_CONTROL, LOCATION};
use axum::http::{HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// Where the app is served.
pub const APP_PATH: &str = "/app/";

/// The built app's folder, when it holds a build.
pub fn built(dir: &Path) -> Option<PathBuf> {
    dir.join("index.html").is_file().then(|| dir.to_path_buf())
}

/// `/app/…` from `dir`, and `/` sending browsers to `/app/`.
pub fn router(dir: &Path) -> Router {
    let files = Router::new()
        .fallback_service(ServeDir::new(dir).append_index_html_on_directories(true))
        .layer(SetResponseHeaderLayer::overriding(
            CACHE_CONTROL,
            |response: &axum::http::Response<_>| Some(cache_control(response)),
        ))
        .layer(CompressionLayer::new());
    Router::new().nest_service("/app", files).route(
        "/",
        get(|| async { (StatusCode::FOUND, [(LOCATION, APP_PATH)]).into_response() }),
    )
}

/// HTML (the app's entry, named the same in every build) is revalidated;
/// content-named assets are kept.
fn cache_control<B>(response: &axum::http::Response<B>) -> HeaderValue {
    let html = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/html"));
    if html || !response.status().is_success() {
        HeaderValue::from_static("no-cache")
    } else {
        HeaderValue::from_static("public, max-age=31536000, immutable")
    }
}
