//! Helpers for the end-to-end suite: the real Codex CLI, a fake model and a fake Akto
//! on 127.0.0.1, and a throw-away Codex home per test.
//!
//! Nothing here talks to the network beyond 127.0.0.1, and no test touches the real
//! `~/.codex`, `$HOME` or `/etc`.

pub mod codex;
pub mod fake_akto;
pub mod fake_model;
pub mod guard;
pub mod home;
pub mod http;
pub mod nagle;
pub mod namespace;
pub mod process;
pub mod proxy;
pub mod tls;
pub mod trust;
pub mod users;

pub use codex::{
    codex_bin, list_hooks, run_codex_exec, run_codex_exec_with_approvals, run_codex_exec_with_etc,
    AppServer,
};
pub use fake_akto::{AktoRequest, FakeAkto, Reply};
pub use fake_model::FakeModel;
pub use home::TestHome;
pub use nagle::NagleServer;
pub use process::Output;
pub use proxy::ConnectProxy;
pub use tls::TestCa;
pub use users::{local_user_or_skip, LocalUser};

use std::time::{Duration, Instant};

/// Polls `condition` until it holds or `timeout` passes; returns whether it held. For
/// effects that may land just after Codex exits (a hook's last HTTP call, a log line).
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
