//! The web console (SPEC §10, crate `ikrar-console`) beside the API: the same ledger and
//! projection, the same tokens, read again when their file changes.

use std::sync::Arc;

use axum::Router;
use ikrar_console::{Access, ConsoleConfig, Signed};

use crate::auth::LiveTokens;
use crate::{token_hash, AppState, Role, ServerConfig};

/// The console's routes over `state`; `tokens` as the API's guard takes them (`None`: open).
pub(crate) fn mount(
    state: &AppState,
    config: &ServerConfig,
    tokens: Option<Arc<LiveTokens>>,
) -> Router {
    let access = match tokens {
        None => Access::Open,
        Some(live) => Access::Tokens {
            lookup: Arc::new(move |token: &str| {
                let tokens = live.get();
                let role = tokens.role_of(token)?;
                let hash = token_hash(token);
                let name = tokens
                    .tokens
                    .iter()
                    .find(|t| t.token_sha256 == hash)
                    .map_or_else(|| "token".to_string(), |t| t.name.clone());
                Some(Signed {
                    name,
                    may_record: role == Role::Recorder,
                })
            }),
            public_read: config.public_read,
        },
    };
    ikrar_console::router(ConsoleConfig {
        ledger: state.ledger.clone(),
        projection: state.state.clone(),
        access,
        secure_cookies: config.tls.is_some(),
        shutting_down: state.shutting_down.clone(),
        witness_keys: config
            .witnessing
            .as_ref()
            .map(|w| w.keys.clone())
            .unwrap_or_default(),
    })
}
