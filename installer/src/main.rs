//! `codex-guard`: installs and manages codex-guard's hooks for the Codex CLI.

mod all_users;
mod backup;
mod cli;
mod codex_config;
mod doctor;
mod events;
mod failure;
mod fleet;
mod fsutil;
mod home;
mod hooks_json;
mod machine_id;
mod managed;
mod restore;
mod setup;
mod trust;
mod ui;
mod uninstall;
mod update;

use clap::Parser;

fn main() {
    let result = match cli::Cli::parse().command {
        cli::Command::Setup(args) => setup::run(args),
        cli::Command::Doctor(args) => doctor::run(args),
        cli::Command::Uninstall(args) => uninstall::run(args),
        cli::Command::Backup(args) => backup::run(args),
        cli::Command::Restore(args) => restore::run(args),
        cli::Command::Events(args) => events::run(args),
        cli::Command::SelfUpdate(args) => update::run(args),
    };
    let code = match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            if let Some(hint) = failure::hint_of(&error) {
                eprintln!("hint: {hint}");
            }
            failure::exit_code_of(&error)
        }
    };
    std::process::exit(code as i32);
}
