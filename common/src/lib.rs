//! Types shared by the `codex-guard` installer and the `codex-guard-hook` runtime.
//!
//! Anything both programs read or write (the runtime's config file, the install
//! receipt, where files live under `$CODEX_HOME`) is defined here once.

pub mod config;
pub mod events;
pub mod layout;
pub mod receipt;
pub mod spool;

pub use config::{Mode, RuntimeConfig};
pub use layout::Layout;
pub use receipt::Receipt;

/// Version of codex-guard, shared by both binaries.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
