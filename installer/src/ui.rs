//! Talking to a person at a terminal: questions (dialoguer), the summary before
//! changes, and step progress (indicatif). Silent and JSON runs never get here.

use crate::failure::Failure;
use crate::setup::Choices;
use anyhow::Result;
use codex_guard_common::{Layout, Mode};
use dialoguer::theme::ColorfulTheme;
use dialoguer::{Confirm, Input, Select};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;

pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks for the Akto URL; `None` when the person picks local-only protection.
pub fn ask_url(validate: &dyn Fn(&str) -> Result<String, Failure>) -> Result<Option<String>> {
    let theme = ColorfulTheme::default();
    let choice = Select::with_theme(&theme)
        .with_prompt("Where should codex-guard send events?")
        .items(&[
            "To an Akto guardrail service (enter its URL)",
            "Nowhere: local rules and a local log only",
        ])
        .default(0)
        .interact()?;
    if choice == 1 {
        return Ok(None);
    }
    let url: String = Input::with_theme(&theme)
        .with_prompt("Akto data-ingestion URL")
        .validate_with(|input: &String| validate(input).map(|_| ()).map_err(|e| e.message))
        .interact_text()?;
    Ok(Some(validate(&url)?))
}

pub fn ask_mode() -> Result<Mode> {
    let choice = Select::with_theme(&ColorfulTheme::default())
        .with_prompt("Akto mode")
        .items(&[
            "argus: traffic attributed to the Codex API",
            "atlas: traffic attributed to this device",
        ])
        .default(0)
        .interact()?;
    Ok(if choice == 0 {
        Mode::Argus
    } else {
        Mode::Atlas
    })
}

pub fn ask_blocking() -> Result<bool> {
    let choice = Select::with_theme(&ColorfulTheme::default())
        .with_prompt("When the guardrails reject a prompt or a command")
        .items(&["block it", "only record it (observe)"])
        .default(0)
        .interact()?;
    Ok(choice == 0)
}

pub fn confirm(prompt: &str) -> Result<bool> {
    Ok(Confirm::with_theme(&ColorfulTheme::default())
        .with_prompt(prompt)
        .default(true)
        .interact()?)
}

pub fn print_summary(layout: &Layout, choices: &Choices, changes: &[(PathBuf, &str)]) {
    eprintln!(
        "codex-guard will protect the Codex home {}",
        layout.codex_home.display()
    );
    match &choices.url {
        Some(url) => eprintln!(
            "  guardrails: {url} ({}, {}, fail {})",
            choices.mode.as_str(),
            if choices.blocking {
                "blocking"
            } else {
                "observe only"
            },
            if choices.fail_closed {
                "closed"
            } else {
                "open"
            }
        ),
        None => eprintln!("  guardrails: local rules only"),
    }
    eprintln!("  files:");
    for (path, action) in changes {
        eprintln!("    {action:8} {}", path.display());
    }
}

/// Steps drawn on stderr when a person is watching; nothing otherwise.
pub struct Progress(ProgressBar);

impl Progress {
    pub fn new(visible: bool, steps: u64) -> Progress {
        if !visible {
            return Progress(ProgressBar::hidden());
        }
        let bar = ProgressBar::new(steps);
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{pos}/{len}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Progress(bar)
    }

    pub fn step(&self, message: &str) {
        self.0.inc(1);
        self.0.set_message(message.to_string());
    }

    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}
