//! `codex-guard`: installs and manages codex-guard's hooks for the Codex CLI.

mod backup;
mod cli;
mod codex_config;
mod failure;
mod fsutil;
mod hooks_json;
mod machine_id;
mod setup;
mod trust;
mod ui;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Setup(args) => setup::run(args),
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
