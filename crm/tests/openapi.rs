//! The OpenAPI document is generated from the handlers (utoipa-axum registers
//! a route and its documentation together); this test pins the route list and
//! checks that every documented operation is really served.

mod common;

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;

use common::TestApp;

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
];

#[tokio::test]
async fn the_document_lists_every_route_and_each_is_served() {
    // The document needs no database; a lazy pool never connects here.
    let pool = PgPoolOptions::new()
        .connect_lazy("postgres://nobody@127.0.0.1:1/none")
        .expect("lazy pool");
    let app = TestApp::new(pool);
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
            if path.starts_with("/v1/") {
                assert!(responses.contains_key("401"), "{method} {path} lacks 401");
                assert!(
                    operation["security"].is_array(),
                    "{method} {path} lacks security"
                );
                if ["post", "put", "patch"].contains(&method.as_str()) {
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
        .filter(|(_, path)| path.starts_with("/v1/"))
    {
        let uri = path.replace("{id}", id).replace("{tag}", "vip");
        let method: Method = method.to_uppercase().parse().expect("method");
        let reply = app.send(method.clone(), &uri, None, None, &[]).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{method} {uri}: {}",
            reply.body
        );
    }
    let _: &Value = &doc;
}
