//! Probes for process supervisors and load balancers, answered from memory:
//! a load balancer may poll them thousands of times a second, and a
//! database round trip per poll would make the probe the database's
//! busiest client. What needs the database is looked at in the background,
//! every [`REFRESH`].

use super::AppState;
use crate::{keys::fanout::FanOutStatus, storage::Db};
use axum::{
    extract::State,
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

/// How often readiness looks at the database: a database that stops
/// answering turns `/readyz` to 503 within this (plus the look's own
/// timeout); whether key changes are heard is read live.
pub const REFRESH: Duration = Duration::from_millis(250);
/// How long one look may wait for the database before it counts as
/// unreachable.
const LOOK_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /healthz`: the process is alive and serving.
pub async fn live() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        r#"{"status":"ok"}"#,
    )
        .into_response()
}

/// What readiness last found of the database.
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    database: bool,
    /// The number of the last key change any process made (shared
    /// databases only; `None` when unknown).
    last_key_change: Option<i64>,
}

/// The database's side of readiness, kept up to date in the background.
#[derive(Clone, Debug)]
pub struct Readiness(Arc<Mutex<Seen>>);

impl Readiness {
    /// Looks once now (so the first probe is answered from a real look),
    /// then every [`REFRESH`] until the process stops.
    pub async fn watch(db: Db) -> Self {
        let readiness = Readiness(Arc::default());
        readiness.look(&db).await;
        let watcher = readiness.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(REFRESH);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                watcher.look(&db).await;
            }
        });
        readiness
    }

    async fn look(&self, db: &Db) {
        let database = tokio::time::timeout(LOOK_TIMEOUT, db.ping())
            .await
            .unwrap_or(false);
        let last_key_change = match database {
            true => db.last_key_change().await.ok().flatten(),
            false => None,
        };
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Seen {
            database,
            last_key_change,
        };
    }

    fn seen(&self) -> Seen {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Serialize)]
pub struct Report {
    status: &'static str,
    database: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_changes: Option<KeyChanges>,
}

#[derive(Serialize)]
struct KeyChanges {
    listening: bool,
    last_sequence: i64,
    /// Changes made in the database that this process has not heard yet,
    /// as of the last look (`null` when the database could not be read).
    behind: Option<i64>,
}

/// `GET /readyz`: the database answers and, on a database shared with
/// other processes, this one hears their key changes; else 503, so a load
/// balancer sends requests elsewhere.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Report>) {
    let seen = state.readiness.seen();
    let fanout = key_changes(&state);
    let hears = fanout.as_ref().is_none_or(|(f, _)| f.listening);
    let ready = seen.database && hears;
    let report = Report {
        status: if ready { "ok" } else { "unavailable" },
        database: if seen.database { "ok" } else { "unreachable" },
        key_changes: fanout.map(|(fanout, behind)| KeyChanges {
            listening: fanout.listening,
            last_sequence: fanout.last_sequence,
            behind,
        }),
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report))
}

/// On a shared database: whether this process hears the others' key
/// changes (now), and how many changes made in the database it had not
/// heard at the last look (`None` when the database could not be read).
pub(super) fn key_changes(state: &AppState) -> Option<(FanOutStatus, Option<i64>)> {
    let fanout = state.services.keys.fanout_status()?;
    let behind = state
        .readiness
        .seen()
        .last_key_change
        .map(|last| (last - fanout.last_sequence).max(0));
    Some((fanout, behind))
}
