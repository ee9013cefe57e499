//! `codex-guard`: installs and manages codex-guard's hooks for the Codex CLI.

use clap::Parser;
use codex_guard::{
    cli, commands::events, commands::update, doctor, failure, install::backup, install::restore,
    install::setup, install::uninstall,
};

fn main() {
    let result = match cli::Cli::parse().command {
        cli::Command::Setup(args) => setup::run(&args),
        cli::Command::Doctor(args) => doctor::run(&args),
        cli::Command::Uninstall(args) => uninstall::run(&args),
        cli::Command::Backup(args) => backup::run(&args),
        cli::Command::Restore(args) => restore::run(&args),
        cli::Command::Events(args) => events::run(&args),
        cli::Command::SelfUpdate(args) => update::run(&args),
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
