//! Engine start-up, once for every command that runs the engine (`serve`, `demo`).
//!
//! [`Engine::boot`] does what must happen before the first request — refuse a data dir
//! others can read, verify the requests a previous run left unconfirmed, create the first
//! admin token, open the plugins and the pipeline — and [`Engine::run`] serves with the
//! background loops beside it (scheduled pulls, deferred plugin calls, audit anchoring, alert
//! delivery), stopping them and anchoring the audit log once more when the server stops.
//! Keeping both in one place is what makes `qbridge demo` run the same engine as `qbridge
//! serve`.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::admin::{anchoring, bootstrap};
use crate::alerts;
use crate::config::Config;
use crate::pipeline::{Pipeline, deferred, pull};
use crate::plugins::PluginManager;
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
        let every = state.config.schedule_check_every;
        let key_path = state.config.secrets_key_path();
        let loops = [
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
            tokio::spawn(alerts::run(
                state.store.clone(),
                key_path.clone(),
                state.config.alerts_silence,
                state.config.alerts_check_every,
            )),
        ];
        let served = server::serve_with(listener, state.clone(), shutdown).await;
        for task in &loops {
            task.abort();
        }
        // The last rows of this run (sign-outs, shutdown) are anchored too.
        let store = state.store.clone();
        let _ =
            tokio::task::spawn_blocking(move || anchoring::anchor_once(&store, &key_path)).await;
        served
    }

    /// `qbridge serve`: listens on `server.listen` until Ctrl-C or SIGTERM.
    pub async fn serve(self) -> anyhow::Result<()> {
        let listener = server::bind(&self.state.config).await?;
        self.run(listener, server::shutdown_signal()).await
    }
}
