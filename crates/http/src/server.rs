//! Serving the router over TCP so that no client can hold the server: hyper's HTTP/1
//! connection with a header-read timeout, a bound on open connections, and a graceful
//! shutdown that gives up at a deadline.
//!
//! `axum::serve` has none of these knobs, so the accept loop is hyper-util's, as in axum's
//! `serve-with-hyper` example. The per-request timeout is a tower layer in
//! [`crate::router`], so that a Lambda serving the same router has it too.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tower::Service;

/// How long a client has to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections served at once by default; the next client waits in the kernel's backlog
/// until one closes (an idle one closes at the header-read timeout). Below the usual limit
/// of 1024 open files, leaving room for the database's.
pub const MAX_CONNECTIONS: usize = 900;

/// Serve `app` on `listener`, at most `max_connections` at once, until `shutdown`
/// resolves; then stop accepting, let open
/// connections finish their requests, and return once they have or `shutdown_timeout` has
/// passed, whichever is first. Connections still open then are dropped (closed) when the
/// caller's runtime ends. Returns the deadline, so that the caller bounds the rest of its
/// shutdown by the same time.
///
/// # Errors
/// None today; `io::Result` leaves room for listener errors that must stop the server.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    max_connections: usize,
    shutdown: impl Future<Output = ()>,
    shutdown_timeout: Duration,
) -> std::io::Result<Instant> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: back off rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let mut app = app.clone();
            async move { app.call(req.map(axum::body::Body::new)).await }
        });
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // Errors here are the client's (reset, timeout reading headers): nothing to do.
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    let deadline = Instant::now() + shutdown_timeout;
    if tokio::time::timeout_at(deadline, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            timeout = ?shutdown_timeout,
            "connections still open at the shutdown deadline are dropped"
        );
    }
    Ok(deadline)
}
