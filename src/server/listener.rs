//! Accepting connections. `axum::serve` offers no timeouts, so a client
//! could hold a connection (and its memory) for ever by sending its headers
//! a byte at a time (slowloris): here each connection has a watchdog that
//! closes it once it has been idle for the header timeout (no request begun
//! or in flight, nothing written), which also closes a keep-alive
//! connection left idle that long; every request has a whole-request
//! timeout (the edge's, see `edge.rs`).
//!
//! The watchdog is one timer per connection, moved only when it fires,
//! where hyper's own header-read timeout boxes a timer and puts it in and
//! out of the runtime's timer wheel for every request (BENCHMARKS.md §12).
//! The price: an idle connection is closed between one and two header
//! timeouts after its last request, not exactly one.
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
use std::{
    convert::Infallible,
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        atomic::{AtomicU32, AtomicU64, Ordering::Relaxed},
        Arc,
    },
    task::{Context, Poll},
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpSocket, TcpStream},
    sync::watch,
};
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
                // The database connections a request on this loop opened
                // are driven by this runtime and shared by the pool with
                // every other loop and the main runtime, which still use
                // them to finish their requests and write the last usage:
                // this runtime goes with the process, not before.
                runtime.block_on(std::future::pending::<()>());
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
    // The watchdog below bounds reading headers; hyper's timer would do it
    // again per request.
    connections.http1().header_read_timeout(None);
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
        let (site, life) = (site.clone(), Arc::new(Liveness::new()));
        let stream = Watched {
            stream,
            life: Arc::clone(&life),
        };
        let busy = Arc::clone(&life);
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let (busy, answer) = (Busy::begin(&busy), site.clone().oneshot(request));
            async move {
                let answer = answer.await;
                drop(busy);
                answer
            }
        });
        let connection = connections
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            tokio::select! {
                biased;
                ended = connection => if let Err(error) = ended {
                    tracing::debug!(%error, "connection ended with an error");
                },
                () = life.idle_for(header_timeout) => {
                    tracing::debug!("closed a connection idle for the header timeout");
                }
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => true,
        () = tokio::time::sleep(grace) => false,
    }
}

/// A connection's signs of life: requests in flight, and a count of the
/// times it began or finished one or wrote anything. A count rather than a
/// time, so that a sign of life costs no clock read.
struct Liveness {
    activity: AtomicU64,
    in_flight: AtomicU32,
}

impl Liveness {
    fn new() -> Self {
        Liveness {
            activity: AtomicU64::new(0),
            in_flight: AtomicU32::new(0),
        }
    }

    /// A load and a store, no locked instruction: the connection's tasks
    /// share one thread, and a count lost to a race would only make the
    /// connection look idle one period early.
    fn touch(&self) {
        let seen = self.activity.load(Relaxed);
        self.activity.store(seen.wrapping_add(1), Relaxed);
    }

    /// Completes once a whole `limit` has passed with no sign of life and
    /// no request in flight: an idle connection is closed between one and
    /// two `limit`s after its last sign of life. The timer moves only when
    /// it fires, so a busy connection costs one timer per `limit`, not one
    /// per request.
    async fn idle_for(&self, limit: Duration) {
        let mut seen = self.activity.load(Relaxed);
        loop {
            tokio::time::sleep(limit).await;
            let now = self.activity.load(Relaxed);
            if now == seen && self.in_flight.load(Relaxed) == 0 {
                return;
            }
            seen = now;
        }
    }
}

/// One request in flight on a connection, from its headers read to its
/// answer made (the body is then written, which [`Watched`] sees).
struct Busy(Arc<Liveness>);

impl Busy {
    fn begin(life: &Arc<Liveness>) -> Self {
        life.in_flight.fetch_add(1, Relaxed);
        life.touch();
        Busy(Arc::clone(life))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}

/// The connection's socket, noting each write as a sign of life (an answer
/// streamed to a slow reader is not idle). Reads are not: a client sending
/// its headers a byte at a time is what the watchdog is for.
struct Watched {
    stream: TcpStream,
    life: Arc<Liveness>,
}

impl Watched {
    fn wrote(&self, written: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        if let Poll::Ready(Ok(bytes)) = written {
            if bytes > 0 {
                self.life.touch();
            }
        }
        written
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.wrote(written)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.wrote(written)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
