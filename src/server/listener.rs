//! Accepting connections. `axum::serve` offers no timeouts, so a client
//! could hold a connection (and its memory) for ever by sending its headers
//! a byte at a time (slowloris): here each connection is served by hyper
//! with a header-read timeout, which also closes a keep-alive connection
//! left idle that long, and every request has a whole-request timeout (the
//! edge's, see `edge.rs`).
//!
//! One accept loop per core, each on a single-threaded runtime of its own,
//! listening on the same port (`SO_REUSEPORT`: the kernel spreads new
//! connections over them): a connection is read, answered and written on
//! one thread, with no wake-up crossing to another. Against one
//! work-stealing runtime this answered the hot path about 8% faster here
//! (BENCHMARKS.md §12). The services' background tasks stay on the main
//! runtime.

use axum::{extract::ConnectInfo, response::Response};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
};
use std::{convert::Infallible, future::Future, io, net::SocketAddr, time::Duration};
use tokio::{net::TcpSocket, sync::watch};
use tower::{Service, ServiceExt};

/// A listening socket on `address` that other sockets of this process may
/// share (one per core).
pub fn bind(address: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(address)?;
    let listener = socket.listen(1024)?;
    listener.into_std()
}

/// Serves `site` on `listener`'s address, one accept loop per core, until
/// `stop` completes; then accepts no more, lets requests in flight finish
/// for up to `grace`, and returns whether they all did.
pub async fn serve<S>(
    listener: std::net::TcpListener,
    site: S,
    header_timeout: Duration,
    stop: impl Future<Output = ()>,
    grace: Duration,
) -> io::Result<bool>
where
    S: Service<hyper::Request<Incoming>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let address = listener.local_addr()?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let mut listeners = vec![listener];
    for _ in 1..cores {
        listeners.push(bind(address)?);
    }
    let (stopping, stopped) = watch::channel(false);
    let mut loops = Vec::with_capacity(cores);
    for listener in listeners {
        let (done, finished) = tokio::sync::oneshot::channel();
        let (site, stopped) = (site.clone(), stopped.clone());
        std::thread::Builder::new()
            .name("keysmith-http".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for the accept loop");
                let all_finished =
                    runtime.block_on(accept(listener, site, header_timeout, stopped, grace));
                let _ = done.send(all_finished);
            })?;
        loops.push(finished);
    }
    stop.await;
    let _ = stopping.send(true);
    let mut all_finished = true;
    for finished in loops {
        all_finished &= finished.await.unwrap_or(false);
    }
    Ok(all_finished)
}

/// One core's accept loop: until told to stop, then for up to `grace` while
/// its requests in flight finish.
async fn accept<S>(
    listener: std::net::TcpListener,
    site: S,
    header_timeout: Duration,
    mut stopped: watch::Receiver<bool>,
    grace: Duration,
) -> bool
where
    S: Service<hyper::Request<Incoming>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%error, "cannot accept connections on this core");
            return true;
        }
    };
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
            _ = stopped.wait_for(|stop| *stop) => break,
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
