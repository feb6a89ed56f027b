//! The OpenAPI document is generated from the handlers (utoipa-axum registers
//! a route and its documentation together); these tests pin the route list,
//! check that every documented operation is really served, and that
//! `schema/openapi.json` is exactly the served document.
//!
//! Regenerate `schema/openapi.json` after changing a route's documentation:
//! `UPDATE_OPENAPI=1 cargo test -p crm --test openapi`.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use tower::ServiceExt;

use common::TestApp;

const REGENERATE: &str = "UPDATE_OPENAPI=1 cargo test -p crm --test openapi";

/// The app; the document needs no database, a lazy pool never connects here.
fn app() -> TestApp {
    let pool = PgPoolOptions::new()
        .connect_lazy("postgres://nobody@127.0.0.1:1/none")
        .expect("lazy pool");
    TestApp::new(pool)
}

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schema/openapi.json")
}

/// The served `/openapi.json`, as sent.
async fn served_text(app: &TestApp) -> String {
    let request = Request::get("/openapi.json")
        .body(Body::empty())
        .expect("request");
    let response = app
        .router
        .clone()
        .oneshot(request)
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    String::from_utf8(bytes.to_vec()).expect("UTF-8")
}

/// `json` indented as `serde_json::to_string_pretty` does, keys kept in the
/// order utoipa emits them (a `Value` would sort them).
fn pretty(json: &str) -> String {
    fn newline(out: &mut String, depth: usize) {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    }
    let mut out = String::with_capacity(json.len() * 2);
    let mut depth = 0;
    let mut chars = json.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push(c);
                while let Some(c) = chars.next() {
                    out.push(c);
                    match c {
                        '\\' => out.extend(chars.next()),
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '{' | '[' => {
                out.push(c);
                while chars.next_if(|c| c.is_ascii_whitespace()).is_some() {}
                if let Some(close) =
                    chars.next_if(|next| matches!((c, *next), ('{', '}') | ('[', ']')))
                {
                    out.push(close);
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth -= 1;
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_ascii_whitespace() => {}
            c => out.push(c),
        }
    }
    out.push('\n');
    out
}

/// JSON pointers where `committed` and `served` differ (at most `limit`).
fn differences(committed: &Value, served: &Value, at: &str, found: &mut Vec<String>, limit: usize) {
    if found.len() >= limit || committed == served {
        return;
    }
    match (committed, served) {
        (Value::Object(left), Value::Object(right)) => {
            let keys: BTreeSet<&String> = left.keys().chain(right.keys()).collect();
            for key in keys {
                let at = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                match (left.get(key), right.get(key)) {
                    (Some(left), Some(right)) => differences(left, right, &at, found, limit),
                    (Some(_), None) => found.push(format!("{at}: only in the committed file")),
                    (None, Some(_)) => found.push(format!("{at}: only in the served document")),
                    (None, None) => {}
                }
                if found.len() >= limit {
                    return;
                }
            }
        }
        (Value::Array(left), Value::Array(right)) if left.len() == right.len() => {
            for (index, (left, right)) in left.iter().zip(right).enumerate() {
                differences(left, right, &format!("{at}/{index}"), found, limit);
            }
        }
        _ => found.push(format!(
            "{at}: {committed} (committed) != {served} (served)"
        )),
    }
}

#[tokio::test]
async fn the_committed_document_is_the_served_one() {
    let served = served_text(&app()).await;
    let path = committed_path();
    if std::env::var_os("UPDATE_OPENAPI").is_some_and(|value| value != "0") {
        std::fs::write(&path, pretty(&served)).expect("write schema/openapi.json");
        return;
    }
    let served: Value = serde_json::from_str(&served).expect("the served document is JSON");
    let committed: Value = match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).unwrap_or_else(|error| {
            panic!(
                "schema/openapi.json is not JSON ({error}); regenerate it with\n    {REGENERATE}"
            )
        }),
        Err(error) => {
            panic!("schema/openapi.json is missing ({error}); generate it with\n    {REGENERATE}")
        }
    };
    let mut found = Vec::new();
    differences(&committed, &served, "", &mut found, 20);
    assert!(
        found.is_empty(),
        "schema/openapi.json differs from the served /openapi.json:\n  {}\n\
         Regenerate it with\n    {REGENERATE}\n\
         then review the diff (a changed document is a contract change for API clients) and commit it.",
        found.join("\n  ")
    );
}

const DOCUMENTED: &[(&str, &str)] = &[
    ("delete", "/v1/customers/{id}"),
    ("delete", "/v1/customers/{id}/tags/{tag}"),
    ("get", "/healthz"),
    ("get", "/metrics"),
    ("get", "/readyz"),
    ("get", "/v1/audit/customers/{id}/events"),
    ("get", "/v1/audit/customers/{id}/state"),
    ("get", "/v1/audit/customers/{id}/verify"),
    ("get", "/v1/customers"),
    ("get", "/v1/customers/{id}"),
    ("get", "/v1/customers/{id}/profile"),
    ("get", "/v1/customers/{id}/timeline"),
    ("get", "/v1/events"),
    ("get", "/v1/funnel"),
    ("get", "/v1/segments"),
    ("patch", "/v1/customers/{id}"),
    ("post", "/v1/customers"),
    ("post", "/v1/customers/{id}/activities"),
    ("post", "/v1/customers/{id}/forget"),
    ("post", "/v1/customers/{id}/purchases"),
    ("post", "/v1/customers/{id}/tags"),
    ("put", "/v1/customers/{id}/owner"),
    ("put", "/v1/customers/{id}/stage"),
    ("delete", "/v1/teams/{id}/members/{login}"),
    ("get", "/v1/me"),
    ("get", "/v1/teams"),
    ("get", "/v1/teams/{id}"),
    ("get", "/v1/users"),
    ("get", "/v1/users/{id}"),
    ("patch", "/v1/teams/{id}"),
    ("patch", "/v1/users/{id}"),
    ("post", "/v1/auth/login"),
    ("post", "/v1/auth/logout"),
    ("post", "/v1/auth/refresh"),
    ("post", "/v1/auth/wechat"),
    ("put", "/v1/me/wechat"),
    ("delete", "/v1/me/wechat"),
    ("post", "/v1/me/password"),
    ("post", "/v1/teams"),
    ("post", "/v1/users"),
    ("post", "/v1/users/{id}/deactivate"),
    ("post", "/v1/users/{id}/forget"),
    ("post", "/v1/users/{id}/password-reset"),
    ("post", "/v1/users/{id}/reactivate"),
    ("put", "/v1/teams/{id}/members/{login}"),
    ("put", "/v1/users/{id}/role"),
    ("get", "/v1/follow-ups"),
    ("get", "/v1/follow-ups/counts"),
    ("get", "/v1/follow-ups/{id}"),
    ("post", "/v1/follow-ups"),
    ("post", "/v1/follow-ups/{id}/cancel"),
    ("post", "/v1/follow-ups/{id}/complete"),
    ("post", "/v1/follow-ups/{id}/reassign"),
    ("post", "/v1/follow-ups/{id}/reschedule"),
    ("get", "/v1/tenant/settings"),
    ("put", "/v1/tenant/settings"),
    ("get", "/v1/notifications"),
    ("get", "/v1/notifications/stream"),
    ("post", "/v1/notifications/read"),
    ("post", "/v1/notifications/{id}/read"),
    ("get", "/v1/automation/rules"),
    ("put", "/v1/automation/rules/{rule}"),
    ("get", "/v1/webhooks"),
    ("post", "/v1/webhooks"),
    ("get", "/v1/webhooks/{id}"),
    ("patch", "/v1/webhooks/{id}"),
    ("delete", "/v1/webhooks/{id}"),
    ("post", "/v1/webhooks/{id}/rotate-secret"),
    ("get", "/v1/webhooks/{id}/attempts"),
    ("get", "/v1/webhooks/{id}/dead-letters"),
    ("post", "/v1/webhooks/{id}/dead-letters/replay"),
    (
        "post",
        "/v1/webhooks/{id}/dead-letters/{delivery_id}/replay",
    ),
];

/// The routes that take no token: signing in and out.
const PUBLIC: &[&str] = &[
    "/v1/auth/login",
    "/v1/auth/logout",
    "/v1/auth/refresh",
    "/v1/auth/wechat",
];

/// Commands whose whole input is the path.
const BODILESS: &[&str] = &[
    "/v1/users/{id}/password-reset",
    "/v1/users/{id}/reactivate",
    "/v1/notifications/read",
    "/v1/notifications/{id}/read",
    "/v1/webhooks/{id}/rotate-secret",
    "/v1/webhooks/{id}/dead-letters/replay",
    "/v1/webhooks/{id}/dead-letters/{delivery_id}/replay",
];

#[tokio::test]
async fn the_document_lists_every_route_and_each_is_served() {
    let app = app();
    let doc = app
        .send(Method::GET, "/openapi.json", None, None, &[])
        .await
        .expect(StatusCode::OK)
        .body;
    assert_eq!(doc["openapi"], "3.1.0");
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            operations.insert((method.clone(), path.clone()));
            let responses = operation["responses"].as_object().expect("responses");
            assert!(
                !responses.is_empty(),
                "{method} {path} documents no response"
            );
            if path.starts_with("/v1/") && !PUBLIC.contains(&path.as_str()) {
                assert!(responses.contains_key("401"), "{method} {path} lacks 401");
                assert!(
                    operation["security"].is_array(),
                    "{method} {path} lacks security"
                );
                if ["post", "put", "patch"].contains(&method.as_str())
                    && !BODILESS.contains(&path.as_str())
                {
                    assert!(
                        operation["requestBody"].is_object(),
                        "{method} {path} lacks a body"
                    );
                }
            }
        }
    }
    let expected: BTreeSet<(String, String)> = DOCUMENTED
        .iter()
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .collect();
    assert_eq!(
        operations, expected,
        "the documented routes changed: update DOCUMENTED"
    );
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "Problem",
        "Accepted",
        "RegisterCustomerRequest",
        "MoveStageRequest",
    ] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    // Each documented /v1 operation exists: without a token it is a 401, not a 404/405.
    let id = "00000000-0000-0000-0000-000000000001";
    for (method, path) in DOCUMENTED
        .iter()
        .filter(|(_, path)| path.starts_with("/v1/") && !PUBLIC.contains(path))
    {
        let uri = path
            .replace("{id}", id)
            .replace("{tag}", "vip")
            .replace("{login}", "rep-1")
            .replace("{delivery_id}", "1");
        let method: Method = method.to_uppercase().parse().expect("method");
        let reply = app.send(method.clone(), &uri, None, None, &[]).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{method} {uri}: {}",
            reply.body
        );
    }
    // The public routes exist too: without a JSON body they are a 415.
    for path in PUBLIC {
        app.send(Method::POST, path, None, None, &[])
            .await
            .expect(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    let _: &Value = &doc;
}

/// Every `$ref` names a schema the document defines, and every path
/// parameter is one of the path's `{…}` segments (generated clients fail on
/// either).
#[tokio::test]
async fn references_resolve_and_path_parameters_are_in_the_path() {
    let app = app();
    let document: Value = serde_json::from_str(&served_text(&app).await).expect("JSON");
    let schemas = document["components"]["schemas"]
        .as_object()
        .expect("schemas");
    let mut problems = Vec::new();
    let mut stack = vec![(String::from("#"), &document)];
    while let Some((at, value)) = stack.pop() {
        match value {
            Value::Object(fields) => {
                if let Some(Value::String(target)) = fields.get("$ref") {
                    match target.strip_prefix("#/components/schemas/") {
                        Some(name) if schemas.contains_key(name) => {}
                        _ => problems.push(format!("{at}: $ref {target} resolves to nothing")),
                    }
                }
                for (key, field) in fields {
                    stack.push((format!("{at}/{key}"), field));
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    stack.push((format!("{at}/{index}"), item));
                }
            }
            _ => {}
        }
    }
    for (path, operations) in document["paths"].as_object().expect("paths") {
        for (method, operation) in operations.as_object().expect("operations") {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap_or_default();
                let in_path = path.contains(&format!("{{{name}}}"));
                if (parameter["in"] == "path") != in_path {
                    problems.push(format!(
                        "{method} {path}: parameter {name} is declared in {} ",
                        parameter["in"]
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
