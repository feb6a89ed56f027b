//! The mini-program's H5 build served at `/app/`: the HTML revalidated,
//! content-named assets kept, text gzipped, `/` sent to the app, and no
//! `/app/` at all without a build.

mod common;

use axum::body::Body;
use axum::http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, LOCATION,
};
use axum::http::{Request, StatusCode};
use axum::response::Response;
use sqlx::PgPool;
use tower::ServiceExt;

use common::TestApp;
use crm::app::{router, AppState};

async fn get(router: &axum::Router, uri: &str, gzip: bool) -> Response {
    let mut request = Request::get(uri);
    if gzip {
        request = request.header(ACCEPT_ENCODING, "gzip");
    }
    router
        .clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("answer")
}

fn header(response: &Response, name: axum::http::HeaderName) -> &str {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
}

#[sqlx::test(migrator = "crm::db::MIGRATOR")]
async fn the_built_app_is_served_at_app(pool: PgPool) {
    let dir = std::env::temp_dir().join(format!("crm-app-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("js")).expect("dir");
    std::fs::write(dir.join("index.html"), "<!doctype html><title>客户</title>").expect("html");
    let script = "console.log('客户管理');\n".repeat(200);
    std::fs::write(dir.join("js/app.3f2a9c.js"), &script).expect("js");
    let app = TestApp::new(pool.clone());
    assert!(crm::app_files::built(&dir).is_some());
    let mut state = AppState::new(pool, app.jwt.clone(), app.data_keys.clone());
    state.app_dir = crm::app_files::built(&dir);
    let served = router(state);

    let index = get(&served, "/app/", false).await;
    assert_eq!(index.status(), StatusCode::OK);
    assert!(header(&index, CONTENT_TYPE).starts_with("text/html"));
    assert_eq!(header(&index, CACHE_CONTROL), "no-cache");

    let asset = get(&served, "/app/js/app.3f2a9c.js", true).await;
    assert_eq!(asset.status(), StatusCode::OK);
    assert_eq!(header(&asset, CONTENT_ENCODING), "gzip");
    assert!(header(&asset, CACHE_CONTROL).contains("immutable"));
    let zipped = axum::body::to_bytes(asset.into_body(), usize::MAX)
        .await
        .expect("body");
    assert!(zipped.len() < script.len() / 4, "{} bytes", zipped.len());

    let missing = get(&served, "/app/js/nothing.js", false).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&missing, CACHE_CONTROL), "no-cache");
    let redirect = get(&served, "/", false).await;
    assert_eq!(redirect.status(), StatusCode::FOUND);
    assert_eq!(header(&redirect, LOCATION), "/app/");
    // The API is unchanged beside it.
    assert_eq!(
        get(&served, "/openapi.json", false).await.status(),
        StatusCode::OK
    );

    // Without a build there is no app, and `/` is not found (a problem).
    let _ = std::fs::remove_dir_all(&dir);
    assert!(crm::app_files::built(&dir).is_none());
    let bare = app.router.clone();
    let none = get(&bare, "/app/", false).await;
    assert_eq!(none.status(), StatusCode::NOT_FOUND);
    assert!(header(&none, CONTENT_TYPE).starts_with("application/problem+json"));
}
