//! Binds a simulator to a local address and serves its router in a tokio
//! task until the last handle to it is dropped.

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A bound but not yet serving listener, so a simulator can learn its own
/// address (for URLs it hands out) before building its router.
pub(crate) struct Bound {
    name: &'static str,
    listener: TcpListener,
    addr: SocketAddr,
}

/// A running server. Dropping it starts a graceful shutdown: the listener
/// closes and idle keep-alive connections are let go.
#[derive(Debug)]
pub(crate) struct Server {
    addr: SocketAddr,
    // Never sent on: dropping it resolves the receiver, which is the signal.
    _stop: oneshot::Sender<()>,
}

/// Binds `addr` for the simulator called `name`.
pub(crate) async fn bind(name: &'static str, addr: SocketAddr) -> anyhow::Result<Bound> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the {name} simulator to {addr}"))?;
    let addr = listener
        .local_addr()
        .with_context(|| format!("reading the {name} address"))?;
    Ok(Bound {
        name,
        listener,
        addr,
    })
}

impl Bound {
    /// The address actually bound (with the real port when 0 was asked).
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves `router` in a new task.
    pub(crate) fn serve(self, router: Router) -> Server {
        let Self {
            name,
            listener,
            addr,
        } = self;
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let shutdown = async move {
                // Resolves with an error once the sender is dropped: our signal.
                let _ = stopped.await;
            };
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await;
            if let Err(error) = served {
                tracing::error!(simulator = name, %error, "simulator stopped serving");
            }
        });
        tracing::info!(simulator = name, %addr, "listening");
        Server { addr, _stop: stop }
    }
}

impl Server {
    /// The bound address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}
