//! Accepting connections. `axum::serve` offers no timeouts, so a client
//! could hold a connection (and its memory) for ever by sending its headers
//! a byte at a time (slowloris): here each connection is served by hyper
//! with a header-read timeout, which also closes a keep-alive connection
//! left idle that long, and every request has a whole-request timeout
//! (a layer of the router, see startup).

use axum::{extract::ConnectInfo, response::Response};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
};
use std::{convert::Infallible, future::Future, time::Duration};
use tokio::net::TcpListener;
use tower::{Service, ServiceExt};

/// Serves `site` on `listener` until `stop` completes; then accepts no
/// more, lets requests in flight finish for up to `grace`, and returns
/// whether they all did.
pub async fn serve<S>(
    listener: TcpListener,
    site: S,
    header_timeout: Duration,
    stop: impl Future<Output = ()>,
    grace: Duration,
) -> bool
where
    S: Service<hyper::Request<Incoming>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut connections = auto::Builder::new(TokioExecutor::new());
    connections
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    connections
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(header_timeout);
    let graceful = GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let site = site.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            site.clone().oneshot(request)
        });
        let connection = connections
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => true,
        () = tokio::time::sleep(grace) => false,
    }
}
