//! The HTTP server: routes, start-up and graceful shutdown.
//!
//! This file only wires things together; what each route means lives with its module
//! (`qbwc` for the SOAP endpoint, `admin` for the API and UI).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::store::Store;

/// State shared by every request handler.
#[derive(Clone)]
pub struct AppState {
    /// Effective configuration.
    pub config: Arc<Config>,
    /// The durable store.
    pub store: Store,
    /// The running mapping plugins (install/approve/rollback go through it too).
    pub plugins: Arc<crate::plugins::PluginManager>,
}

/// Builds the router with every route the engine serves.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .with_state(state)
}

async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    Json(serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "boot_id": state.store.boot_id(),
    }))
}

/// Serves until Ctrl-C or SIGTERM, then finishes in-flight requests and returns.
pub async fn serve(state: AppState) -> anyhow::Result<()> {
    let listen = state.config.listen;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| bind_hint(listen))?;
    let local = listener.local_addr()?;
    tracing::info!(address = %local, data_dir = %state.config.data_dir.display(), "qbridge is listening");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("HTTP server failed")?;
    tracing::info!("qbridge stopped cleanly");
    Ok(())
}

/// What to tell the admin when the listening address is not available.
pub fn bind_hint(listen: SocketAddr) -> String {
    format!(
        "cannot listen on {listen}: another program (or another qbridge) may be using the port. \
         Stop it, or choose another address with --listen / QBRIDGE_SERVER_LISTEN"
    )
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
