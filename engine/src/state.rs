//! The state every request handler shares ([`AppState`]).
//!
//! It lives apart from `server` (which wires routes) and `engine` (which starts everything)
//! so that the admin, pipeline and QBWC handlers depend on this small module only, and the
//! server can depend on them without either importing the other.

use std::sync::Arc;

use crate::config::Config;
use crate::plugins::PluginManager;
use crate::qbwc::WorkProvider;
use crate::store::Store;

/// State shared by every request handler.
#[derive(Clone)]
pub struct AppState {
    /// Effective configuration.
    pub config: Arc<Config>,
    /// The durable store.
    pub store: Store,
    /// The pipeline the QBWC sessions ask for work.
    pub work: Arc<dyn WorkProvider>,
    /// The running mapping plugins (install/approve/rollback go through it too).
    pub plugins: Arc<PluginManager>,
}

impl axum::extract::FromRef<AppState> for Store {
    fn from_ref(state: &AppState) -> Store {
        state.store.clone()
    }
}
