//! The accept loop. Each connection is served by hyper's HTTP/1 server with
//! a deadline for reading a request's headers, so a client that opens
//! connections and trickles bytes cannot hold them forever; on shutdown,
//! open connections get a grace period, then the host stops regardless.

use std::pin::pin;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Most headers one request may carry; far more than 64 KiB can hold of
/// real ones.
const MAX_HEADERS: usize = 2048;

/// How long open connections may take to finish once the host stops.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `stop` is cancelled, then waits up to
/// [`SHUTDOWN_GRACE`] for the requests in flight.
pub async fn serve(listener: TcpListener, router: Router, stop: CancellationToken) {
    let connections = TaskTracker::new();
    loop {
        // Stop first: a steady stream of clients must not keep the loop
        // accepting after the host was told to stop.
        let accepted = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) => {
                // Out of file descriptors, usually: wait for some to close.
                tracing::warn!(error = %err, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        connections.spawn(connection(stream, router.clone(), stop.clone()));
    }

    connections.close();
    let waited = tokio::time::timeout(SHUTDOWN_GRACE, connections.wait()).await;
    if waited.is_err() {
        let open = connections.len();
        tracing::warn!(open, grace = ?SHUTDOWN_GRACE, "connections still open; stopping anyway");
    }
}

async fn connection(stream: tokio::net::TcpStream, router: Router, stop: CancellationToken) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        // Header size is bounded by the handlers (64 KiB, a JSON 431), so
        // the count need not be: hyper's own cap of 100 answers bare.
        .max_headers(MAX_HEADERS);
    let service = TowerToHyperService::new(router);
    let mut served = pin!(builder.serve_connection(TokioIo::new(stream), service));
    let outcome = tokio::select! {
        outcome = served.as_mut() => outcome,
        () = stop.cancelled() => {
            served.as_mut().graceful_shutdown();
            served.await
        }
    };
    if let Err(err) = outcome {
        tracing::debug!(error = %err, "connection ended with an error");
    }
}
