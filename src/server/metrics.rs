//! Prometheus metrics: requests by route and status with latency
//! histograms, verifications by result code, the verification cache's hit
//! ratio, and usage-flush durations. Served at `GET /metrics` to the
//! addresses in `KEYSMITH_METRICS_ALLOW` (loopback by default).

use super::AppState;
use crate::shared::shards::Counter as ShardedCounter;
use crate::{
    auth::identity::ClientInfo,
    error::AppError,
    keys::{cache::CacheCounts, fanout::FanOutStatus},
    rest::{problem::ApiError, VERIFY_PATH},
};
use axum::{
    extract::{MatchedPath, Request, State},
    http::{header, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use metrics::Histogram;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::{
    sync::{LazyLock, OnceLock},
    time::{Duration, Instant},
};

/// Seconds; fine below a millisecond, where verification lives.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0,
];

/// The label of requests no route matched (static files, 404s), so
/// made-up paths cannot create new series.
const UNMATCHED: &str = "unmatched";

/// The process-wide recorder (the `metrics` macros write to one global).
#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
}

impl Metrics {
    /// Installs the recorder on first use; later calls share it.
    pub fn install() -> Self {
        static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
        let handle = HANDLE.get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .expect("the bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics stays empty");
            }
            describe();
            handle
        });
        Metrics {
            handle: handle.clone(),
        }
    }

    /// Folds recorded histogram samples in, so memory stays flat between
    /// scrapes; runs every `interval` until the process stops.
    pub fn keep_up_every(&self, interval: Duration) {
        let handle = self.handle.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            loop {
                ticks.tick().await;
                handle.run_upkeep();
            }
        });
    }

    fn render(
        &self,
        counts: CacheCounts,
        fanout: Option<(FanOutStatus, Option<i64>)>,
        credits_lost: u64,
    ) -> String {
        if let Some((fanout, behind)) = fanout {
            metrics::gauge!("keysmith_key_changes_listening")
                .set(f64::from(u8::from(fanout.listening)));
            metrics::gauge!("keysmith_key_changes_last_sequence").set(fanout.last_sequence as f64);
            if let Some(behind) = behind {
                metrics::gauge!("keysmith_key_changes_behind").set(behind as f64);
            }
        }
        for (code, count) in crate::keys::verifier::verdict_counts() {
            metrics::counter!("keysmith_key_verifications_total", "code" => code).absolute(count);
        }
        HotRoute::publish();
        metrics::counter!("keysmith_credits_lost_total").absolute(credits_lost);
        metrics::counter!("keysmith_verify_cache_hits_total").absolute(counts.hits);
        metrics::counter!("keysmith_verify_cache_misses_total").absolute(counts.misses);
        let lookups = counts.hits + counts.misses;
        let ratio = if lookups == 0 {
            0.0
        } else {
            counts.hits as f64 / lookups as f64
        };
        metrics::gauge!("keysmith_verify_cache_hit_ratio").set(ratio);
        metrics::gauge!("keysmith_verify_cache_entries").set(counts.entries as f64);
        self.handle.render()
    }
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "keysmith_http_requests_total",
        "HTTP requests answered, by method, route and status."
    );
    describe_histogram!(
        "keysmith_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer HTTP requests, by method and route."
    );
    describe_counter!(
        "keysmith_key_verifications_total",
        "Key verifications (the endpoint and X-API-Key callers), by result code."
    );
    describe_counter!(
        "keysmith_credits_lost_total",
        "Credits this process found held by a server that stopped reporting (killed mid-lease): counted as spent, never handed out again."
    );
    describe_counter!(
        "keysmith_verify_cache_hits_total",
        "Verifications answered from memory."
    );
    describe_counter!(
        "keysmith_verify_cache_misses_total",
        "Verifications that read the database."
    );
    describe_gauge!(
        "keysmith_verify_cache_hit_ratio",
        "Hits over all look-ups since start."
    );
    describe_gauge!(
        "keysmith_verify_cache_entries",
        "Known and unknown keys held in the verification cache."
    );
    describe_gauge!(
        "keysmith_key_changes_listening",
        "1 while this process hears every key change the others make (PostgreSQL); 0 while it verifies from the database instead."
    );
    describe_gauge!(
        "keysmith_key_changes_last_sequence",
        "The number of the last key change this process heard."
    );
    describe_gauge!(
        "keysmith_key_changes_behind",
        "Key changes made in the database that this process has not heard yet (its lag), as of the scrape."
    );
    describe_histogram!(
        "keysmith_usage_flush_duration_seconds",
        Unit::Seconds,
        "Time to write one batch of key usage."
    );
    describe_counter!(
        "keysmith_usage_flushed_keys_total",
        "Keys whose usage was written."
    );
}

/// Middleware: counts and times every request by its route pattern.
pub async fn track_requests(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED.to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    record(method, route, response.status(), started);
    response
}

/// The routes mounted without per-route layers (verify, the probes): the
/// edge counts and times them. Their `200` answers are counted per thread
/// and published at each scrape, and their latency handles looked up once,
/// so the hot path allocates nothing and shares no counter between cores
/// for its metrics. Their other answers (bad input, a wrong method) take
/// the general way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HotRoute {
    Verify,
    Healthz,
    Readyz,
}

impl HotRoute {
    const ALL: [HotRoute; 3] = [HotRoute::Verify, HotRoute::Healthz, HotRoute::Readyz];

    pub fn of(path: &str) -> Option<Self> {
        HotRoute::ALL.into_iter().find(|route| route.path() == path)
    }

    fn path(self) -> &'static str {
        match self {
            HotRoute::Verify => VERIFY_PATH,
            HotRoute::Healthz => "/healthz",
            HotRoute::Readyz => "/readyz",
        }
    }

    /// The method the route is for.
    pub fn method(self) -> Method {
        match self {
            HotRoute::Verify => Method::POST,
            HotRoute::Healthz | HotRoute::Readyz => Method::GET,
        }
    }

    /// Counts and times one answer of this route, begun at `started`.
    pub fn record(self, method: &Method, status: StatusCode, started: Instant) {
        static LATENCY: OnceLock<Vec<Histogram>> = OnceLock::new();
        if *method != self.method() || status != StatusCode::OK {
            return record(
                method_label(method),
                self.path().to_owned(),
                status,
                started,
            );
        }
        let latency = LATENCY.get_or_init(|| {
            HotRoute::ALL
                .iter()
                .map(|route| {
                    let method = method_label(&route.method());
                    metrics::histogram!(DURATION, "method" => method, "route" => route.path())
                })
                .collect()
        });
        HOT_ANSWERS[self as usize].add(1);
        latency[self as usize].record(started.elapsed());
    }

    /// Sets each hot route's count of `200` answers, for a scrape.
    fn publish() {
        for route in HotRoute::ALL {
            let method = method_label(&route.method());
            metrics::counter!(REQUESTS, "method" => method, "route" => route.path(), "status" => "200")
                .absolute(HOT_ANSWERS[route as usize].sum());
        }
    }
}

/// Each hot route's `200` answers since start (see [`HotRoute`]).
static HOT_ANSWERS: LazyLock<[ShardedCounter; 3]> = LazyLock::new(Default::default);

const REQUESTS: &str = "keysmith_http_requests_total";
const DURATION: &str = "keysmith_http_request_duration_seconds";

fn record(method: &'static str, route: String, status: StatusCode, started: Instant) {
    metrics::counter!(
        REQUESTS,
        "method" => method,
        "route" => route.clone(),
        "status" => status.as_u16().to_string()
    )
    .increment(1);
    metrics::histogram!(DURATION, "method" => method, "route" => route).record(started.elapsed());
}

/// The method as a label from a fixed set: HTTP lets a client invent
/// methods, and each made-up one would otherwise be a new series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// `GET /metrics`, in the Prometheus text format.
pub async fn scrape(
    State(state): State<AppState>,
    client: ClientInfo,
) -> Result<Response, ApiError> {
    let allowed = client.ip.is_some_and(|ip| {
        state
            .config
            .metrics_allow
            .iter()
            .any(|net| net.contains(&ip))
    });
    if !allowed {
        return Err(AppError::Forbidden(
            "Metrics are served only to the addresses in KEYSMITH_METRICS_ALLOW.".into(),
        )
        .into());
    }
    let body = state.metrics.render(
        state.services.keys.cache_counts(),
        super::health::key_changes(&state),
        state.services.keys.credits_lost(),
    );
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        let made_up = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&made_up), "other");
        assert_eq!(method_label(&Method::CONNECT), "other");
    }
}
