//! Building and running the server. The same `Application::build` starts
//! production and the integration tests (which bind port 0).

use super::{
    edge::{EdgeLayer, EdgePolicy},
    health::Readiness,
    metrics::{track_requests, Metrics},
    secrets::ServerKeys,
    security::{identify_client, page_nonce, reject_cross_site, server_fn_error_status, PageNonce},
    state::{Services, Shared},
    AppState, BoxError, Config,
};
use crate::{
    app::{shell, App},
    audit::service::AuditLog,
    auth::{
        hashing::PasswordHasher,
        service::Accounts,
        session::{enforce_lifetimes, guard_pages, Lifetimes},
        token::TokenSigner,
        verifier::VerifyGate,
    },
    idempotency::{self, IdempotentAnswers},
    keys::{cache::CredentialCache, expiry, secret::KeyFormat, usage::UsageTracker, Keys},
    mail::Mailer,
    rest,
    shared::{sealed::Sealer, site::PublicUrl},
    storage::Db,
    teams::service::Teams,
};
use axum::{
    extract::Request,
    http::{request::Parts, StatusCode},
    middleware::{from_fn, from_fn_with_state},
    response::{IntoResponse, Redirect, Response},
    routing::get,
    Router,
};
use leptos::{config::LeptosOptions, nonce::Nonce, prelude::*};
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::{future::Future, net::SocketAddr, pin::Pin, sync::Arc, time::Duration};
use tower::Layer;
use tower_sessions::{
    cookie::{Key, SameSite},
    service::SignedCookie,
    ExpiredDeletion, Expiry, SessionManagerLayer, SessionStore,
};

/// Requests larger than this are refused with 413: nothing Keysmith accepts
/// comes close.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// How often answers kept for expired Idempotency-Keys are deleted.
const IDEMPOTENCY_SWEEP: Duration = Duration::from_secs(10 * 60);
/// How often this process reports the credits it holds: well within
/// `wallet::STALE_AFTER`, after which an unreported lease is counted lost.
const CREDIT_REPORTS: Duration = Duration::from_secs(1);

/// The whole server as one service: the edge around the router.
type Site = super::edge::Edge<Router>;

pub struct Application {
    listener: std::net::TcpListener,
    site: Site,
    db: Db,
    usage: UsageTracker,
    keys: Keys,
    shutdown_grace: Duration,
    header_timeout: Duration,
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, BoxError> {
        let db = Db::connect(&config.database_url).await?;
        let secrets = ServerKeys::load(&config)?;
        let usage = UsageTracker::default();
        usage.flush_every(db.clone(), config.usage_flush);
        tokio::spawn(idempotency::sweep_every(db.clone(), IDEMPOTENCY_SWEEP));
        tokio::spawn(super::retention::sweep_daily(
            db.clone(),
            config.audit_retention_days,
        ));
        let metrics = Metrics::install();
        metrics.keep_up_every(Duration::from_secs(5));
        let mailer = match config.mail()? {
            Some(settings) => Mailer::new(settings, &secrets.mail),
            None => Mailer::default(),
        };
        mailer.start_sending(db.clone());
        if mailer.is_on() {
            tokio::spawn(expiry::warn_every(db.clone(), mailer.clone()));
        }
        let services = services(&config, &db, &secrets, usage.clone(), mailer);
        services.keys.follow_other_processes();
        services.keys.report_credits_every(CREDIT_REPORTS);
        let keys = services.keys.clone();
        let state = AppState::new(Shared {
            leptos_options: leptos_options(&config)?,
            readiness: Readiness::watch(db.clone()).await,
            config: Arc::new(config),
            metrics,
            services,
        });
        let sessions = sessions(&state, &db, &secrets).await?;
        let site = site(&state, router(state.clone(), sessions));
        let listener = super::listener::bind(state.config.site_addr)
            .map_err(|e| format!("cannot listen on {}: {e}", state.config.site_addr))?;
        Ok(Application {
            listener,
            site,
            db,
            usage,
            keys,
            shutdown_grace: state.config.shutdown_grace,
            header_timeout: state.config.header_timeout,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until SIGINT or SIGTERM; then stops accepting, lets requests
    /// in flight finish (for up to the configured grace), gives back unused
    /// rate limit leases, writes the key usage gathered in memory and
    /// closes the database.
    pub async fn run_until_stopped(self) -> Result<(), BoxError> {
        let stop = shutdown_signal()?;
        tracing::info!("listening on http://{}", self.local_addr());
        let address = self.local_addr();
        if address.ip().is_loopback() {
            // Passkeys are bound to a name, never an IP address.
            tracing::info!("open http://localhost:{} in a browser", address.port());
        }
        let grace = self.shutdown_grace;
        let finished =
            super::listener::serve(self.listener, self.site, self.header_timeout, stop, grace)
                .await?;
        if !finished {
            tracing::warn!(?grace, "requests still in flight; stopping without them");
        }
        self.keys.give_back_leases().await;
        match self.usage.flush(&self.db).await {
            Ok(flushed) => tracing::info!(keys = flushed.keys, "key usage written"),
            Err(error) => tracing::error!(%error, "cannot write the last key usage"),
        }
        self.db.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The services, each handed what it depends on.
fn services(
    config: &Config,
    db: &Db,
    secrets: &ServerKeys,
    usage: UsageTracker,
    mailer: Mailer,
) -> Services {
    let public_url = PublicUrl(config.public_url.clone());
    let accounts = Accounts::new(
        db.clone(),
        PasswordHasher::new(config.max_concurrent_hashes),
        TokenSigner::new(&secrets.jwt, config.token_lifetime),
        config.throttle(),
        config.allow_signup,
        mailer.clone(),
        Sealer::new(&secrets.two_factor),
    );
    Services {
        keys: Keys::new(
            db.clone(),
            KeyFormat::new(config.key_prefix.clone()),
            CredentialCache::new(config.verify_cache_ttl, config.verify_cache_entries),
            usage,
            config.catalogue(),
            mailer.is_on(),
        ),
        teams: Teams::new(
            db.clone(),
            accounts.clone(),
            mailer.clone(),
            config.membership_limits(),
            config.invitations_per_hour,
        ),
        accounts,
        audit: AuditLog::new(db.clone()),
        idempotency: IdempotentAnswers::new(
            db.clone(),
            secrets.idempotency,
            config.idempotency_max_keys,
        ),
        public_url,
        verify_gate: VerifyGate(config.verify_tokens.clone()),
    }
}

fn leptos_options(config: &Config) -> Result<LeptosOptions, BoxError> {
    let mut options = leptos::config::get_configuration(None)
        .map_err(|e| format!("invalid Leptos setting: {e}"))?
        .leptos_options;
    if options.output_name.is_empty() {
        options.output_name = env!("CARGO_PKG_NAME").into();
    }
    options.site_addr = config.site_addr;
    options.hash_files = super::assets::hashed_names_built(&options);
    Ok(options)
}

async fn sessions(
    state: &AppState,
    db: &Db,
    keys: &ServerKeys,
) -> Result<SessionManagerLayer<impl ExpiredDeletion + Clone, SignedCookie>, BoxError> {
    let store = db.session_store().await?;
    tokio::spawn(ExpiredDeletion::continuously_delete_expired(
        store.clone(),
        Duration::from_secs(60 * 60),
    ));
    let idle = time::Duration::try_from(state.config.session_idle)?;
    Ok(SessionManagerLayer::new(store)
        .with_name("keysmith_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(state.config.serves_https())
        .with_expiry(Expiry::OnInactivity(idle))
        .with_signed(Key::from(&keys.session)))
}

/// The routes. Verify and the probes are mounted as they are, with no
/// layer of their own: the edge around the router is all they pass (every
/// route layer is boxed again per request). The REST API adds the client's
/// address and request metrics; the pages add the session, its guards, the
/// cross-site check and the page nonce.
fn router<Store: SessionStore + Clone>(
    state: AppState,
    sessions: SessionManagerLayer<Store, SignedCookie>,
) -> Router {
    let routes = generate_route_list(App);
    let context = {
        let state = state.clone();
        move || provide_request_context(&state)
    };
    let options = state.leptos_options.clone();
    let rest = rest::routes(state.clone());
    let pages = Router::new()
        .route("/", get(|| async { Redirect::to("/dashboard") }))
        .route("/metrics", get(super::metrics::scrape))
        .merge(super::assets::package_files(&state.leptos_options))
        .merge(super::assets::public_files(&state.leptos_options))
        .leptos_routes_with_context(&state, routes, context.clone(), {
            let options = options.clone();
            move || shell(options.clone())
        })
        .fallback(not_found(context, options))
        .layer(from_fn(page_nonce))
        .layer(from_fn_with_state(
            state.services.accounts.clone(),
            guard_pages,
        ))
        .layer(from_fn_with_state(
            Lifetimes {
                idle: state.config.session_idle,
                max: state.config.session_max,
            },
            enforce_lifetimes,
        ))
        .layer(sessions)
        .layer(from_fn(server_fn_error_status))
        .layer(from_fn_with_state(state.clone(), reject_cross_site))
        .layer(from_fn_with_state(state.clone(), identify_client));
    let api = rest
        .api
        .layer(from_fn_with_state(state.clone(), identify_client))
        .layer(from_fn(track_requests));
    let hot = Router::new()
        .route(rest::VERIFY_PATH, rest.verify)
        .route("/healthz", get(super::health::live))
        .route("/readyz", get(super::health::ready));
    pages
        .layer(from_fn(track_requests))
        .nest(rest::BASE_PATH, api)
        .merge(hot)
        .with_state(state)
}

/// The whole server: the router inside the edge (the host check, the body
/// limit, the request timeout, problem documents, the security headers, the
/// hot routes' metrics, and the hot routes answered without the router).
fn site(state: &AppState, router: Router) -> Site {
    let config = &state.config;
    EdgeLayer::new(EdgePolicy {
        allowed_hosts: config.allowed_hosts().to_vec(),
        hsts: config.serves_https(),
        request_timeout: config.request_timeout,
        max_body_bytes: MAX_BODY_BYTES,
    })
    .with_hot_routes(state.clone())
    .layer(router)
}

/// Runs for each page and server-function request: gives server functions
/// the services and the public URL, and gives the page the CSP nonce that
/// [`page_nonce`] minted for this very request (read from the request, never
/// from a context another request could share).
fn provide_request_context(state: &AppState) {
    let services = &state.services;
    provide_context(services.keys.clone());
    provide_context(services.accounts.clone());
    provide_context(services.audit.clone());
    provide_context(services.teams.clone());
    provide_context(services.public_url.clone());
    provide_context(services.verify_gate.clone());
    let nonce =
        use_context::<Parts>().and_then(|parts| parts.extensions.get::<PageNonce>().cloned());
    if let Some(PageNonce(nonce)) = nonce {
        provide_context(Nonce::from_value(nonce));
    }
}

/// What the router does not name: a path that looks like a file (it has an
/// extension) is a plain 404, never a page; any other is the dashboard's
/// "not found" page.
fn not_found(
    context: impl Fn() + Clone + Send + Sync + 'static,
    options: LeptosOptions,
) -> impl Fn(Request) -> Pin<Box<dyn Future<Output = Response> + Send>> + Clone + Send + 'static {
    let page =
        leptos_axum::render_app_to_stream_with_context(context, move || shell(options.clone()));
    move |req: Request| {
        let page = page.clone();
        Box::pin(async move {
            let last = req.uri().path().rsplit('/').next().unwrap_or_default();
            if last.contains('.') {
                return (StatusCode::NOT_FOUND, "Not found.").into_response();
            }
            let mut response = page(req).await;
            if response.status() == StatusCode::OK {
                *response.status_mut() = StatusCode::NOT_FOUND;
            }
            response
        })
    }
}

/// Resolves at the first SIGINT or SIGTERM. The handlers are installed
/// here, before the caller says it is listening: a signal sent the moment
/// the server is up must stop it gracefully, not kill it.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, BoxError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        tracing::info!("shutting down: finishing requests in flight");
    })
}
