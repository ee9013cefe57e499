//! Types shared by the `codex-guard` installer and the `codex-guard-hook` runtime.
//!
//! Anything both programs read or write (the runtime's config file, the install
//! receipt, where files live under `$CODEX_HOME`) is defined here once.

pub mod config;
pub mod env;
pub mod events;
pub mod integrity;
pub mod layout;
pub mod receipt;
pub mod spool;
pub mod trust;

pub use config::{Mode, RuntimeConfig};
pub use layout::Layout;
pub use receipt::Receipt;

/// Version of codex-guard, shared by both binaries. A release build may stamp
/// another one with `CODEX_GUARD_BUILD_VERSION` (`cargo xtask dist --version`).
pub const VERSION: &str = match option_env!("CODEX_GUARD_BUILD_VERSION") {
    Some(version) => version,
    None => env!("CARGO_PKG_VERSION"),
};
