//! Probes for process supervisors and load balancers.

use super::AppState;
use crate::keys::fanout::FanOutStatus;
use axum::{extract::State, http::StatusCode, Json};
use serde_json::{json, Value};

/// `GET /healthz`: the process is alive and serving.
pub async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers and, on a database shared with
/// other processes, this one hears their key changes; else 503, so a load
/// balancer sends requests elsewhere.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let database = state.db.ping().await;
    let fanout = key_changes(&state).await;
    let mut body = json!({
        "status": "ok",
        "database": if database { "ok" } else { "unreachable" },
    });
    if let Some((fanout, behind)) = fanout {
        body["key_changes"] = json!({
            "listening": fanout.listening,
            "last_sequence": fanout.last_sequence,
            "behind": behind,
        });
    }
    if database && fanout.is_none_or(|(f, _)| f.listening) {
        (StatusCode::OK, Json(body))
    } else {
        body["status"] = "unavailable".into();
        (StatusCode::SERVICE_UNAVAILABLE, Json(body))
    }
}

/// On a shared database: whether this process hears the others' key
/// changes, and how many changes made in the database it has not heard
/// yet (`None` when the database cannot be read).
pub(super) async fn key_changes(state: &AppState) -> Option<(FanOutStatus, Option<i64>)> {
    let fanout = state.services.keys.fanout_status()?;
    let behind = match state.db.last_key_change().await {
        Ok(Some(last)) => Some(last - fanout.last_sequence),
        _ => None,
    };
    Some((fanout, behind))
}
