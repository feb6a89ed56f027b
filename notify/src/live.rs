//! The live feed: `GET /v1/notifications/stream`, Server-Sent Events.
//!
//! Each event is one notification (`event: notification`, `id:` its id,
//! `data:` its JSON). A client that reconnects with `Last-Event-ID` (or
//! `?after=`) gets every notification after that id first, so nothing is
//! missed across a reconnect; without either, the feed starts after the
//! newest notification the recipient already has (read the inbox first,
//! then pass its newest id as `after`). Comment lines every
//! [`HEARTBEAT`] keep proxies from closing an idle feed; at shutdown the feed
//! ends with `event: shutdown`, and the client reconnects to another
//! instance.
//!
//! Notifications are rows, so none is lost while nobody listens. One
//! PostgreSQL listener per process ([`Arrivals::listen`]) wakes the feeds of
//! the recipients the scheduler announced; each feed then reads its new
//! rows. A feed also reads every [`RECHECK`], should a wake-up be missed
//! while the listener reconnects.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::{broadcast, mpsc, watch};
use utoipa::IntoParams;
use web::extract::Query;
use web::openapi::{BadParameter, Unauthorized};
use web::{ApiError, Caller};

use crate::inbox::{inbox_of, Notification, COLUMNS};
use crate::{NotifyApi, NOTIFICATIONS_CHANNEL};

/// How often an idle feed sends a comment line.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// How often a feed reads its rows without being woken.
pub const RECHECK: Duration = Duration::from_secs(30);
/// The reconnection delay the feed asks clients for.
const RETRY: Duration = Duration::from_secs(3);
/// Notifications read (and sent) at a time.
const PAGE: i64 = 200;
/// Wakes everyone (after the listener reconnected).
const EVERYONE: &str = "*";

/// The recipients whose inboxes got something, as the scheduler announced
/// them (`<tenant id>:<login>`), fanned out to this process's feeds.
#[derive(Clone)]
pub struct Arrivals {
    sender: broadcast::Sender<Arc<str>>,
}

impl Default for Arrivals {
    fn default() -> Self {
        let (sender, _) = broadcast::channel(4096);
        Self { sender }
    }
}

impl Arrivals {
    fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.sender.subscribe()
    }

    /// Listens on [`NOTIFICATIONS_CHANNEL`] until `shutdown`, reconnecting
    /// (and waking every feed, which may have missed something) after a
    /// lost connection.
    pub async fn listen(self, pool: PgPool, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            let mut listener = match connect(&pool).await {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for notifications; retrying");
                    tokio::select! {
                        changed = shutdown.changed() => if changed.is_err() { return },
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                    continue;
                }
            };
            let _ = self.sender.send(Arc::from(EVERYONE));
            loop {
                tokio::select! {
                    changed = shutdown.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        break;
                    }
                    received = listener.try_recv() => match received {
                        Ok(Some(notification)) => {
                            let _ = self.sender.send(Arc::from(notification.payload()));
                        }
                        // The connection was lost: reconnect and wake everyone.
                        Ok(None) => break,
                        Err(error) => {
                            tracing::warn!(%error, "the notification listener failed; reconnecting");
                            break;
                        }
                    },
                }
            }
        }
    }
}

async fn connect(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(NOTIFICATIONS_CHANNEL).await?;
    Ok(listener)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// Send notifications after this id first (as `Last-Event-ID` does,
    /// which wins when both are given).
    #[param(minimum = 0)]
    after: Option<i64>,
}

#[utoipa::path(
    get, path = "/v1/notifications/stream", tag = "notifications",
    params(
        StreamParams,
        ("Last-Event-ID" = Option<String>, Header, description = "The id of the last notification received: resumes after it"),
    ),
    responses(
        (status = 200, description = "Server-Sent Events: `event: notification` with the notification as JSON data and its id as the event id; `event: shutdown` before the service stops", content_type = "text/event-stream", body = Notification),
        BadParameter, Unauthorized,
    ),
    security(("bearer" = []))
)]
pub(crate) async fn stream_notifications(
    State(api): State<NotifyApi>,
    caller: Caller,
    headers: HeaderMap,
    Query(params): Query<StreamParams>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let resume = match headers.get("last-event-id") {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|text| text.trim().parse::<i64>().ok())
                .filter(|id| *id >= 0)
                .ok_or_else(|| {
                    ApiError::BadRequest(
                        "Last-Event-ID must be the id of a notification this feed sent".to_owned(),
                    )
                })?,
        ),
        None => params.after,
    };
    if resume.is_some_and(|id| id < 0) {
        return Err(ApiError::BadRequest(
            "after must be a notification id (0 or more)".to_owned(),
        ));
    }
    let after = match resume {
        Some(after) => after,
        None => newest(&api.pool, &caller).await?,
    };
    let (events, received) = mpsc::channel(64);
    let wakeups = api.arrivals.subscribe();
    tokio::spawn(feed(api, caller, after, events, wakeups));
    let stream = futures_util::stream::unfold(received, |mut received| async move {
        received.recv().await.map(|event| (Ok(event), received))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(HEARTBEAT)))
}

async fn newest(pool: &PgPool, caller: &Caller) -> Result<i64, sqlx::Error> {
    let newest: Option<i64> = sqlx::query_scalar(
        "SELECT max(id) FROM notifications WHERE tenant_id = $1 AND recipient = $2",
    )
    .bind(caller.tenant_id)
    .bind(&caller.user_id)
    .fetch_one(pool)
    .await?;
    Ok(newest.unwrap_or(0))
}

/// Sends the recipient's notifications after `after`, then each new one,
/// until the client goes away or the service shuts down.
async fn feed(
    api: NotifyApi,
    caller: Caller,
    mut after: i64,
    events: mpsc::Sender<Event>,
    mut wakeups: broadcast::Receiver<Arc<str>>,
) {
    let mine = format!("{}:{}", caller.tenant_id, caller.user_id);
    let mut shutdown = api.shutdown.clone();
    if events.send(Event::default().retry(RETRY)).await.is_err() {
        return;
    }
    loop {
        if *shutdown.borrow() {
            let _ = events
                .send(
                    Event::default()
                        .event("shutdown")
                        .data("the service is stopping"),
                )
                .await;
            return;
        }
        match send_after(&api.pool, &caller, after, &events).await {
            Ok(Sent { last, full }) => {
                after = last.unwrap_or(after);
                if full {
                    continue;
                }
            }
            // The client went away.
            Err(FeedEnd::Closed) => return,
            Err(FeedEnd::Database(error)) => {
                tracing::warn!(%error, "a notification feed could not read; retrying");
            }
        }
        let recheck = tokio::time::sleep(RECHECK);
        tokio::pin!(recheck);
        loop {
            tokio::select! {
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    break;
                }
                () = events.closed() => return,
                () = &mut recheck => break,
                woken = wakeups.recv() => match woken {
                    Ok(key) if *key == *mine || &*key == EVERYONE => break,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    }
}

enum FeedEnd {
    Closed,
    Database(sqlx::Error),
}

/// What one page sent: the last id, and whether the page was full (more
/// may follow at once).
struct Sent {
    last: Option<i64>,
    full: bool,
}

/// Sends one page of notifications after `after`.
async fn send_after(
    pool: &PgPool,
    caller: &Caller,
    after: i64,
    events: &mpsc::Sender<Event>,
) -> Result<Sent, FeedEnd> {
    let mut builder = inbox_of(&format!("SELECT {COLUMNS}"), caller);
    builder
        .push(" AND n.id > ")
        .push_bind(after)
        .push(" ORDER BY n.id LIMIT ")
        .push_bind(PAGE);
    let page: Vec<Notification> = builder
        .build_query_as()
        .fetch_all(pool)
        .await
        .map_err(FeedEnd::Database)?;
    let full = page.len() as i64 == PAGE;
    let mut last = None;
    for notification in page {
        let event = Event::default()
            .id(notification.id.to_string())
            .event("notification")
            .json_data(&notification)
            .unwrap_or_else(|_| Event::default().comment("unencodable notification"));
        events.send(event).await.map_err(|_| FeedEnd::Closed)?;
        last = Some(notification.id);
    }
    Ok(Sent { last, full })
}
