//! `codex-guard-hook`: the program Codex runs for every hook event.
//!
//! It reads one event on stdin, decides (local rules, then Akto's guardrails), prints
//! Codex's blocking output when needed and exits 0: a failure here must never break
//! the user's Codex session (only an unreadable event in a fail-closed install exits 2).

fn main() {
    let mut machine_config = None;
    let mut deliver = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--version" | "-V" => {
                println!("codex-guard-hook {}", codex_guard_common::VERSION);
                return;
            }
            "--help" | "-h" => {
                print!("{}", codex_guard_hook::help());
                return;
            }
            codex_guard_hook::spool::DELIVER_ARG => deliver = true,
            codex_guard_common::layout::MACHINE_CONFIG_ARG => match args.next() {
                Some(path) => machine_config = Some(std::path::PathBuf::from(path)),
                None => {
                    eprintln!("codex-guard-hook: {arg} needs a file (see --help)");
                    std::process::exit(2);
                }
            },
            other => {
                eprintln!("codex-guard-hook: unexpected argument {other:?} (see --help)");
                std::process::exit(2);
            }
        }
    }
    if deliver {
        codex_guard_hook::run_delivery(machine_config.as_deref());
    } else {
        let code = codex_guard_hook::run_from_process(machine_config.as_deref());
        if code != 0 {
            std::process::exit(code);
        }
    }
}
