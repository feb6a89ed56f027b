//! A local stand-in for WeChat's `jscode2session`: an HTTP server on
//! 127.0.0.1 that knows the codes it handed out (each valid once, as
//! WeChat's are) and can be told to misbehave. No network access needed.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::common::TestApp;
use command::wechat::{WeChatClient, WeChatConfig};
use crm::app::{router, AppState};

pub const APP_ID: &str = "wx-test-app";
pub const APP_SECRET: &str = "stand-in-app-secret";
/// What the stand-in answers as every session key: it must show up nowhere.
pub const SESSION_KEY: &str = "c2Vzc2lvbi1rZXktbmV2ZXItc3RvcmVk";
/// The client's timeout in the tests: short, so a slow answer times out fast.
pub const TIMEOUT: Duration = Duration::from_millis(500);

/// How the stand-in answers.
#[derive(Debug, Clone, Copy, Default)]
pub enum Mode {
    /// As WeChat does: a known code once, then errcode 40029.
    #[default]
    Normal,
    /// `{"errcode": n}` whatever the code (-1: busy).
    Errcode(i64),
    /// 200 with an HTML page.
    Garbage,
    /// Answers normally after longer than the client waits.
    Slow,
}

#[derive(Default)]
struct Behaviour {
    /// Code → openid, for the codes not used yet.
    codes: HashMap<String, String>,
    mode: Mode,
    calls: usize,
}

#[derive(Clone)]
pub struct StandIn {
    behaviour: Arc<Mutex<Behaviour>>,
    pub url: String,
}

impl StandIn {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the stand-in");
        let address = listener.local_addr().expect("address");
        let behaviour = Arc::<Mutex<Behaviour>>::default();
        let app = Router::new()
            .route("/sns/jscode2session", get(jscode2session))
            .with_state(Arc::clone(&behaviour));
        tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the stand-in serves");
        });
        Self {
            behaviour,
            url: format!("http://{address}/sns/jscode2session"),
        }
    }

    /// A fresh code, as `wx.login` gives the person with `openid`.
    pub fn code_for(&self, openid: &str) -> String {
        let code = format!("081{}", Uuid::new_v4().simple());
        self.lock().codes.insert(code.clone(), openid.to_owned());
        code
    }

    pub fn set(&self, mode: Mode) {
        self.lock().mode = mode;
    }

    /// How many exchanges were asked for.
    pub fn calls(&self) -> usize {
        self.lock().calls
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Behaviour> {
        self.behaviour.lock().expect("stand-in lock")
    }

    /// The service's client, pointed at `url`.
    pub fn client_for(url: &str) -> WeChatClient {
        let config = WeChatConfig::new(APP_ID, APP_SECRET, url, TIMEOUT).expect("config");
        WeChatClient::new(config).expect("client")
    }

    /// A test app whose WeChat sign-in asks this stand-in.
    pub fn app(&self, pool: PgPool) -> TestApp {
        app_with(pool, Some(Self::client_for(&self.url)), None)
    }
}

/// A test app with `wechat` (or none: not configured) and, if given, a
/// per-address limit of sign-in attempts.
pub fn app_with(pool: PgPool, wechat: Option<WeChatClient>, per_address: Option<u32>) -> TestApp {
    let mut app = TestApp::new(pool.clone());
    let mut state = AppState::new(pool, app.jwt.clone(), app.data_keys.clone());
    state.wechat = wechat;
    if let Some(per_address) = per_address {
        state.sign_in_limits.per_address = per_address;
    }
    app.router = router(state);
    app
}

/// A URL nothing listens at: a port the system gave out and took back.
pub async fn closed_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    drop(listener);
    format!("http://{address}/sns/jscode2session")
}

async fn jscode2session(
    State(behaviour): State<Arc<Mutex<Behaviour>>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let param = |name: &str| params.get(name).map(String::as_str);
    let mode = {
        let mut behaviour = behaviour.lock().expect("stand-in lock");
        behaviour.calls += 1;
        behaviour.mode
    };
    if param("appid") != Some(APP_ID) || param("secret") != Some(APP_SECRET) {
        return Json(json!({"errcode": 40125, "errmsg": "invalid appsecret"})).into_response();
    }
    if param("grant_type") != Some("authorization_code") {
        return Json(json!({"errcode": 40002, "errmsg": "invalid grant_type"})).into_response();
    }
    match mode {
        Mode::Normal => {}
        Mode::Errcode(errcode) => {
            return Json(json!({"errcode": errcode, "errmsg": "stand-in says no"})).into_response()
        }
        Mode::Garbage => return "<html><body>502 Bad Gateway</body></html>".into_response(),
        Mode::Slow => tokio::time::sleep(TIMEOUT * 4).await,
    }
    let openid = param("js_code")
        .and_then(|code| behaviour.lock().expect("stand-in lock").codes.remove(code));
    match openid {
        Some(openid) => Json(json!({"openid": openid, "session_key": SESSION_KEY})).into_response(),
        None => {
            Json(json!({"errcode": 40029, "errmsg": "invalid code, rid: 6543"})).into_response()
        }
    }
}
