//! The HTTPS listener: TLS (rustls), HTTP/1.1 and HTTP/2 (hyper-util),
//! the axum router, graceful shutdown.

use crate::{podstreams, system, AppState};
use axum::routing::{any, get};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// How long in-flight requests get to finish once shutdown starts.
const DRAIN: Duration = Duration::from_secs(5);

// The streaming subresources need the raw request (for protocol upgrades),
// so they have routes of their own instead of the generic resource handler.
const POD_LOG: &str = "/api/v1/namespaces/{namespace}/pods/{name}/log";
const POD_EXEC: &str = "/api/v1/namespaces/{namespace}/pods/{name}/exec";
const POD_ATTACH: &str = "/api/v1/namespaces/{namespace}/pods/{name}/attach";
const POD_PORTFORWARD: &str = "/api/v1/namespaces/{namespace}/pods/{name}/portforward";

pub fn router(app: AppState) -> Router {
    Router::new()
        .route("/healthz", get(system::healthz))
        .route("/livez", get(system::healthz))
        .route("/readyz", get(system::healthz))
        .route("/version", get(system::version))
        .route("/metrics", get(system::metrics))
        .route("/api", get(system::api_root))
        .route("/apis", get(system::apis_root))
        .route("/openapi/v2", get(system::openapi))
        .route("/openapi/v3", get(system::openapi))
        .route("/openapi/v3/{*path}", get(system::openapi))
        .route(POD_LOG, any(podstreams::log))
        .route(POD_EXEC, any(podstreams::exec))
        .route(POD_ATTACH, any(podstreams::attach))
        .route(POD_PORTFORWARD, any(podstreams::portforward))
        .fallback(any(system::fallback))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            system::authenticate,
        ))
        .with_state(app)
}

/// Resolves once the server has stopped accepting and drained.
pub struct ServerHandle {
    pub local_addr: std::net::SocketAddr,
    pub done: tokio::task::JoinHandle<()>,
}

/// Serves `app` on `listener` until `shutdown` resolves.
pub fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<ServerHandle> {
    let local_addr = listener.local_addr()?;
    let acceptor = TlsAcceptor::from(tls);
    let router = router(app);
    let done = tokio::spawn(async move {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        tokio::pin!(shutdown);
        loop {
            let (tcp, _peer) = tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        continue;
                    }
                },
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let service = hyper_util::service::TowerToHyperService::new(router.clone());
            let watcher = graceful.watcher();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let builder = auto::Builder::new(TokioExecutor::new());
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                let conn = watcher.watch(conn.into_owned());
                if let Err(e) = conn.await {
                    tracing::debug!("connection ended: {e}");
                }
            });
        }
        tokio::select! {
            _ = graceful.shutdown() => {}
            _ = tokio::time::sleep(DRAIN) => tracing::info!("shutdown: gave up waiting for open connections"),
        }
    });
    Ok(ServerHandle { local_addr, done })
}
