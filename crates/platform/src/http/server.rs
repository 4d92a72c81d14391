//! Serving a router on a listener until shutdown, then draining.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

use crate::shutdown::Shutdown;

/// How long in-flight requests get to finish after shutdown.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` until `shutdown` fires, then lets in-flight requests
/// finish (up to [`DRAIN_TIMEOUT`]).
pub async fn serve(listener: TcpListener, app: Router, shutdown: Shutdown) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "listening");
    let signal = shutdown.clone();
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { signal.cancelled().await });
    let mut server = tokio::spawn(async move { server.await });
    tokio::select! {
        finished = &mut server => {
            return finished.unwrap_or_else(|join| Err(std::io::Error::other(join)));
        }
        () = shutdown.cancelled() => {}
    }
    match tokio::time::timeout(DRAIN_TIMEOUT, server).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(std::io::Error::other(join)),
        Err(_) => {
            tracing::warn!("in-flight requests did not finish in time");
            Ok(())
        }
    }
}

/// Binds `addr` (port 0 picks a free port).
pub async fn bind(addr: &str) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
