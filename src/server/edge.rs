//! What every request passes, in one hand-written layer wrapped around the
//! whole router: the host check, the body limit, the whole-request timeout,
//! problem documents for the REST API's bare errors, the security headers,
//! and the metrics of the hot routes (verify and the probes), which are
//! mounted without per-route layers.
//!
//! One layer outside the router, rather than a middleware per defence
//! inside it, because axum boxes each route layer's service and future
//! again for every request: four `from_fn` middlewares and the router's
//! own timeout and body-limit layers cost the probes a third of their
//! throughput (BENCHMARKS.md §12).

use super::{
    config::host_without_port, health, metrics::HotRoute, security::error_response, AppState,
};
use crate::{
    error::AppError,
    rest::{self, problem},
};
use axum::{
    body::{Body, Bytes, HttpBody},
    extract::Request,
    handler::Handler,
    http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    BoxError,
};

use http_body_util::Limited;
use pin_project_lite::pin_project;
use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant},
};
use tokio::time::Sleep;
use tower::{Layer, Service};

/// For every HTML answer without a CSP of its own (error pages; the
/// rendered pages carry one naming their nonce).
const DOCUMENT_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; \
     form-action 'self'; frame-ancestors 'none'";
/// For every other answer (JSON, assets, images): nothing in it may load
/// or run anything, nor be framed.
const RESOURCE_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// What the edge enforces, from the configuration.
#[derive(Debug)]
pub struct EdgePolicy {
    /// Lower-case host names answered for; empty: any.
    pub allowed_hosts: Vec<String>,
    /// Send HSTS (the public URL is https).
    pub hsts: bool,
    /// How long a request, reading its body included, may take.
    pub request_timeout: Duration,
    /// The largest body accepted: a larger declared length is refused at
    /// once, and a body that grows past it fails when read (413).
    pub max_body_bytes: usize,
}

#[derive(Clone)]
pub struct EdgeLayer {
    policy: Arc<EdgePolicy>,
    hot: Option<HotRoutes>,
}

impl EdgeLayer {
    pub fn new(policy: EdgePolicy) -> Self {
        EdgeLayer {
            policy: Arc::new(policy),
            hot: None,
        }
    }

    /// Answers the hot routes' own method (verify's POST, the probes' GET)
    /// by calling their handlers directly, without the router.
    pub fn with_hot_routes(self, state: AppState) -> Self {
        EdgeLayer {
            hot: Some(HotRoutes(state)),
            ..self
        }
    }
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge {
            inner,
            policy: Arc::clone(&self.policy),
            hot: self.hot.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Edge<S> {
    inner: S,
    policy: Arc<EdgePolicy>,
    hot: Option<HotRoutes>,
}

/// The hot routes' handlers, called with the state the router would give
/// them. The router has the same routes (for their other methods, and for
/// a site without this shortcut); going around it saves what it does for
/// every request (the original URI, the matched path and the URL
/// parameters each put in the request's extensions, a boxed route cloned):
/// about 5 % of verify's cycles (BENCHMARKS.md §12).
#[derive(Clone)]
struct HotRoutes(AppState);

type Answering = Pin<Box<dyn Future<Output = Response> + Send>>;

impl HotRoutes {
    /// `route`'s handler on `req`, which has the route's own method.
    fn answer(&self, route: HotRoute, req: Request) -> Answering {
        let state = self.0.clone();
        match route {
            HotRoute::Verify => Handler::call(rest::verify, req, state),
            HotRoute::Healthz => Handler::call(health::live, req, state),
            HotRoute::Readyz => Handler::call(health::ready, req, state),
        }
    }
}

impl<S, B> Service<Request<B>> for Edge<S>
where
    S: Service<Request<Limited<B>>, Response = Response, Error = Infallible>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = EdgeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let seen = Seen {
            is_api: req.uri().path().starts_with(rest::BASE_PATH),
            hot: HotRoute::of(req.uri().path()).map(|route| (route, req.method().clone())),
            started: Instant::now(),
        };
        let refusal = self
            .policy
            .refuse_host(req.uri(), req.headers())
            .or_else(|| self.policy.refuse_size(req.headers()));
        let inner = match refusal {
            Some(refusal) => Inner::Refused {
                refusal: Some(refusal),
            },
            None => {
                let limit = self.policy.max_body_bytes;
                let req = req.map(|body| Limited::new(body, limit));
                match (&self.hot, &seen.hot) {
                    (Some(hot), Some((route, method))) if *method == route.method() => Inner::Hot {
                        future: hot.answer(*route, req.map(Body::new)),
                    },
                    _ => Inner::Running {
                        future: self.inner.call(req),
                    },
                }
            }
        };
        EdgeFuture {
            inner,
            sleep: None,
            seen,
            policy: Arc::clone(&self.policy),
        }
    }
}

/// What the edge noted of a request before passing it on.
struct Seen {
    is_api: bool,
    hot: Option<(HotRoute, axum::http::Method)>,
    started: Instant,
}

pin_project! {
    pub struct EdgeFuture<F> {
        #[pin]
        inner: Inner<F>,
        // Made only if the request does not finish on its first poll: most
        // of the hot path's requests never arm a timer.
        sleep: Option<Pin<Box<Sleep>>>,
        seen: Seen,
        policy: Arc<EdgePolicy>,
    }
}

pin_project! {
    #[project = InnerProjection]
    enum Inner<F> {
        Running { #[pin] future: F },
        Hot { future: Answering },
        Refused { refusal: Option<Response> },
    }
}

impl<F> Future for EdgeFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let polled = match this.inner.project() {
            InnerProjection::Refused { refusal } => Poll::Ready(refusal.take().unwrap_or_default()),
            InnerProjection::Running { future } => future
                .poll(cx)
                .map(|answered| answered.unwrap_or_else(|never| match never {})),
            InnerProjection::Hot { future } => future.as_mut().poll(cx),
        };
        let response = match polled {
            Poll::Ready(response) => response,
            Poll::Pending => {
                let timeout = this.policy.request_timeout;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                // Too slow (a body trickled in, say): answered, and the
                // request dropped with this future.
                StatusCode::REQUEST_TIMEOUT.into_response()
            }
        };
        Poll::Ready(Ok(finish(response, this.seen, this.policy)))
    }
}

/// Every answer's last steps: a problem document for the REST API's bare
/// errors, the security headers, the hot routes' metrics.
fn finish(response: Response, seen: &Seen, policy: &EdgePolicy) -> Response {
    let mut response = if seen.is_api {
        as_problem(response)
    } else {
        response
    };
    secure(response.headers_mut(), policy.hsts);
    if let Some((route, method)) = &seen.hot {
        route.record(method, response.status(), seen.started);
    }
    response
}

impl EdgePolicy {
    /// A body declared larger than the limit is refused before it is read.
    fn refuse_size(&self, headers: &HeaderMap) -> Option<Response> {
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())?;
        (declared > self.max_body_bytes as u64)
            .then(|| StatusCode::PAYLOAD_TOO_LARGE.into_response())
    }

    /// The answer to a request for a host this server does not answer for
    /// (DNS rebinding reaches nothing); `None` to let it through. Loopback
    /// names may always reach the probes, for health checks.
    fn refuse_host(&self, uri: &axum::http::Uri, headers: &HeaderMap) -> Option<Response> {
        if self.allowed_hosts.is_empty() {
            return None;
        }
        let authority = uri
            .authority()
            .map(|a| a.as_str())
            .or_else(|| headers.get(header::HOST).and_then(|v| v.to_str().ok()))
            .unwrap_or_default();
        let host = host_without_port(authority)
            .unwrap_or_default()
            .to_ascii_lowercase();
        let is_probe = matches!(uri.path(), "/healthz" | "/readyz" | "/metrics");
        let is_loopback = matches!(host.as_str(), "localhost" | "127.0.0.1" | "[::1]");
        if self.allowed_hosts.contains(&host) || (is_probe && is_loopback) {
            return None;
        }
        tracing::warn!(host = %host.chars().take(100).collect::<String>(), "refused a request for an unknown host");
        let error = AppError::BadRequest(
            "this server does not answer for that host name (see KEYSMITH_ALLOWED_HOSTS)".into(),
        );
        Some(if uri.path().starts_with("/api/") {
            problem::response(&error)
        } else {
            error_response(&error)
        })
    }
}

/// Rewrites an error answer that is not already a problem (a route that
/// does not exist, a method not allowed, a body over the limit, a timeout)
/// into one, so REST clients parse a single error format.
fn as_problem(response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(problem::CONTENT_TYPE.as_bytes()));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let error = match status {
        StatusCode::NOT_FOUND => AppError::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => AppError::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => AppError::UnsupportedMediaType,
        StatusCode::UNAUTHORIZED => AppError::Unauthenticated,
        StatusCode::FORBIDDEN => AppError::Forbidden("Forbidden.".into()),
        s if s.is_client_error() => AppError::BadRequest(
            s.canonical_reason()
                .unwrap_or("the request is malformed")
                .to_lowercase(),
        ),
        _ => AppError::Internal,
    };
    let mut rewritten = problem::response(&error);
    *rewritten.status_mut() = status;
    if let Some(allow) = response.headers().get(header::ALLOW) {
        rewritten.headers_mut().insert(header::ALLOW, allow.clone());
    }
    rewritten
}

/// The security headers. Every answer says what may load in it (CSP, no
/// framing), not to sniff its type, to send no referrer and to be stored
/// nowhere (assets say how they are cached). Documents (HTML) also get the
/// headers that only matter to a page a browser shows (opener isolation,
/// no camera or microphone): sending those with every JSON answer would
/// double the headers of the hot path for nothing (OWASP's REST cheat sheet
/// asks for the first set).
fn secure(headers: &mut HeaderMap, hsts: bool) {
    let is_document = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        let csp = if is_document {
            DOCUMENT_CSP
        } else {
            RESOURCE_CSP
        };
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(csp),
        );
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if is_document {
        headers.insert(COOP, HeaderValue::from_static("same-origin"));
        headers.insert(
            PERMISSIONS_POLICY,
            HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
        );
    }
    if hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
}

const COOP: HeaderName = HeaderName::from_static("cross-origin-opener-policy");
const PERMISSIONS_POLICY: HeaderName = HeaderName::from_static("permissions-policy");

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{body::Body, routing::get, Router};
    use tower::ServiceExt;

    fn policy(hosts: &[&str], timeout: Duration) -> EdgeLayer {
        EdgeLayer::new(EdgePolicy {
            allowed_hosts: hosts.iter().map(|h| h.to_string()).collect(),
            hsts: false,
            request_timeout: timeout,
            max_body_bytes: 16,
        })
    }

    fn request(host: &str, path: &str) -> Request {
        Request::builder()
            .uri(path)
            .header(header::HOST, host)
            .body(Body::empty())
            .unwrap()
    }

    #[tokio::test]
    async fn every_answer_carries_the_security_headers_and_api_errors_become_problems() {
        let router = Router::new().route("/page", get(|| async { "hi" }));
        let edge = policy(&[], Duration::from_secs(5)).layer(router);
        let page = edge.clone().oneshot(request("a", "/page")).await.unwrap();
        assert_eq!(page.headers()[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(page.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(
            page.headers()[header::CONTENT_SECURITY_POLICY],
            RESOURCE_CSP
        );
        assert!(
            !page.headers().contains_key("permissions-policy"),
            "not a document"
        );
        let missing = edge.oneshot(request("a", "/api/v2/nowhere")).await.unwrap();
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            missing.headers()[header::CONTENT_TYPE],
            problem::CONTENT_TYPE
        );
    }

    #[tokio::test]
    async fn documents_get_the_page_headers_too() {
        let router =
            Router::new().route("/page", get(|| async { axum::response::Html("<p>hi</p>") }));
        let edge = policy(&[], Duration::from_secs(5)).layer(router);
        let page = edge.oneshot(request("a", "/page")).await.unwrap();
        assert_eq!(
            page.headers()[header::CONTENT_SECURITY_POLICY],
            DOCUMENT_CSP
        );
        assert_eq!(page.headers()["cross-origin-opener-policy"], "same-origin");
        assert!(page.headers().contains_key("permissions-policy"));
    }

    #[tokio::test]
    async fn only_the_allowed_hosts_are_answered_and_loopback_reaches_the_probes() {
        let router = Router::new()
            .route("/page", get(|| async { "hi" }))
            .route("/healthz", get(|| async { "ok" }));
        let edge = policy(&["keys.example.com"], Duration::from_secs(5)).layer(router);
        let call = |host: &str, path: &str| edge.clone().oneshot(request(host, path));
        assert_eq!(
            call("keys.example.com:443", "/page")
                .await
                .unwrap()
                .status(),
            StatusCode::OK
        );
        assert_eq!(
            call("evil.example", "/page").await.unwrap().status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            call("127.0.0.1:3000", "/healthz").await.unwrap().status(),
            StatusCode::OK
        );
        assert_eq!(
            call("127.0.0.1:3000", "/page").await.unwrap().status(),
            StatusCode::BAD_REQUEST
        );
    }

    #[tokio::test]
    async fn a_request_slower_than_the_timeout_is_answered_408() {
        let router = Router::new().route(
            "/api/v2/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                "late"
            }),
        );
        let edge = policy(&[], Duration::from_millis(50)).layer(router);
        let started = Instant::now();
        let answer = edge.oneshot(request("a", "/api/v2/slow")).await.unwrap();
        assert_eq!(answer.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(
            answer.headers()[header::CONTENT_TYPE],
            problem::CONTENT_TYPE
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
