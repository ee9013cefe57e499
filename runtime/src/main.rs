//! `codex-guard-hook`: the program Codex runs for every hook event.
//!
//! It reads one event on stdin, decides (local rules, then Akto's guardrails), prints
//! Codex's blocking output when needed and always exits 0: a failure here must never
//! break the user's Codex session.

fn main() {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("--version" | "-V") => {
            println!("codex-guard-hook {}", codex_guard_common::VERSION);
        }
        Some("--help" | "-h") => print!("{}", codex_guard_hook::HELP),
        Some(codex_guard_hook::spool::DELIVER_ARG) => codex_guard_hook::run_delivery(),
        Some(other) => {
            eprintln!("codex-guard-hook: unexpected argument {other:?} (see --help)");
            std::process::exit(2);
        }
        None => codex_guard_hook::run_from_process(),
    }
}
