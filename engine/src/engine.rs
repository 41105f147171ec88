//! Engine start-up, once for every command that runs the engine (`serve`, `demo`).
//!
//! [`Engine::boot`] does what must happen before the first request — refuse a data dir
//! others can read, verify the requests a previous run left unconfirmed, create the first
//! admin token, open the plugins and the pipeline — and [`Engine::run`] serves with the
//! background loops beside it (scheduled pulls, deferred plugin calls, audit anchoring,
//! alert delivery, pruning past the retention age, `/metrics` on its own address when configured) and the
//! local admin credential published for commands beside it (`admin::local`), stopping them,
//! withdrawing the credential and anchoring the audit log once more when the server stops.
//! Keeping both in one place is what makes `qbridge demo` run the same engine as `qbridge serve`.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use anyhow::Context;

use crate::admin::{anchoring, bootstrap, local, metrics_api};
use crate::alerts;
use crate::config::Config;
use crate::pipeline::{Pipeline, deferred, pull};
use crate::plugins::PluginManager;
use crate::retention;
use crate::server;
use crate::state::AppState;
use crate::store::Store;

/// A booted engine, ready to serve.
pub struct Engine {
    /// What every request handler and background loop shares.
    pub state: AppState,
}

impl Engine {
    /// Prepares the engine on an open store (see the module doc for the steps).
    pub fn boot(config: Config, store: Store) -> anyhow::Result<Engine> {
        if let Some(problem) = crate::store::data_dir_mode_problem(&config.data_dir) {
            anyhow::bail!("{problem} (`qbridge doctor` checks it)");
        }
        // This node's heartbeat first: on SQLite it also forgets the earlier process.
        store.heartbeat()?;
        let rescued = store.rescue_orphans()?;
        if rescued > 0 {
            tracing::warn!(
                jobs = rescued,
                "requests sent before the last stop were not confirmed; they will be verified with QuickBooks before anything is re-sent"
            );
        }
        // First start: one admin token so the admin can reach the API and UI, in a 0600
        // file (never in stdout or logs that a journal keeps).
        bootstrap::bootstrap_admin_token(&store, &config.data_dir)?;
        let plugins = Arc::new(PluginManager::open(store.clone(), &config)?);
        let work = Arc::new(Pipeline::new(
            store.clone(),
            plugins.clone(),
            config.batch_limits(),
            config.pipeline_rules(),
        ));
        Ok(Engine {
            state: AppState {
                config: Arc::new(config),
                store,
                work,
                plugins,
            },
        })
    }

    /// Serves on `listener` with the background loops running until `shutdown` completes;
    /// then lets in-flight requests finish, stops the loops and anchors the audit log.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let state = self.state;
        // Commands on this machine reach this run through its local admin credential.
        let url = local_url(&state.config, listener.local_addr()?);
        let published = local::publish(&state.store, &state.config.data_dir, &url)?;
        let every = state.config.schedule_check_every;
        let key_path = state.config.secrets_key_path();
        let metrics_listener = match state.config.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on metrics.listen {addr}"))?,
            ),
            None => None,
        };
        let mut loops = vec![
            tokio::spawn(pull::run_scheduler(
                state.store.clone(),
                state.plugins.clone(),
                every,
            )),
            tokio::spawn(deferred::run_deferred_calls(
                state.store.clone(),
                state.plugins.clone(),
                every,
            )),
            tokio::spawn(anchoring::run(state.store.clone(), key_path.clone())),
            tokio::spawn(crate::liveness::run(state.store.clone())),
            tokio::spawn(crate::liveness::follow_plugins(state.plugins.clone())),
            tokio::spawn(retention::run(
                state.store.clone(),
                state.config.retention_completed_days,
            )),
            tokio::spawn(alerts::run(
                state.store.clone(),
                key_path.clone(),
                state.config.alerts_silence,
                state.config.alerts_check_every,
            )),
        ];
        if let Some(listener) = metrics_listener {
            loops.push(tokio::spawn(metrics_api::serve_separately(
                listener,
                state.clone(),
            )));
        }
        let served = server::serve_with(listener, state.clone(), shutdown).await;
        for task in &loops {
            task.abort();
        }
        // The last rows of this run (sign-outs, shutdown) are anchored too.
        let store = state.store.clone();
        let _ = tokio::task::spawn_blocking(move || {
            published.withdraw(&store);
            // Leaving at once: the other nodes need not wait out the TTL for this one's work.
            if let Err(e) = store.retire_node() {
                tracing::warn!(error = %e, "could not remove this node's heartbeat");
            }
            anchoring::anchor_once(&store, &key_path)
        })
        .await;
        served
    }

    /// `qbridge serve`: listens on `server.listen` until Ctrl-C or SIGTERM.
    pub async fn serve(self) -> anyhow::Result<()> {
        let listener = server::bind(&self.state.config).await?;
        self.run(listener, server::shutdown_signal()).await
    }
}

/// The URL commands on this machine use: the listening address (loopback when it listens on
/// every interface); with HTTPS, `server.public_url` when set, since the certificate names
/// that host and not 127.0.0.1.
fn local_url(config: &Config, listening: std::net::SocketAddr) -> String {
    if config.tls_cert.is_some()
        && let Some(public) = &config.public_url
    {
        return public.clone();
    }
    let addr = if listening.ip().is_unspecified() {
        let loopback: std::net::IpAddr = if listening.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        };
        std::net::SocketAddr::new(loopback, listening.port())
    } else {
        listening
    };
    let scheme = if config.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{addr}")
}
