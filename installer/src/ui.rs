//! Talking to a person at a terminal: questions (dialoguer), the summary before
//! changes, and step progress (indicatif). Silent and JSON runs never get here.

use crate::failure::Failure;
use crate::settings::Choices;
use anyhow::Result;
use codex_guard_common::{Layout, Mode, RuntimeConfig};
use dialoguer::theme::ColorfulTheme;
use dialoguer::{Confirm, Input, Password, Select};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks for the Akto URL; `None` when the person picks local-only protection.
pub fn ask_url(validate: &dyn Fn(&str) -> Result<String, Failure>) -> Result<Option<String>> {
    let _asking = Asking::start();
    let theme = ColorfulTheme::default();
    let choice = answer(
        Select::with_theme(&theme)
            .with_prompt("Where should codex-guard send events?")
            .items(&[
                "To an Akto guardrail service (enter its URL)",
                "Nowhere: local rules and a local log only",
            ])
            .default(0)
            .interact(),
    )?;
    if choice == 1 {
        return Ok(None);
    }
    let url: String = answer(
        Input::with_theme(&theme)
            .with_prompt("Akto data-ingestion URL")
            .validate_with(|input: &String| validate(input).map(|_| ()).map_err(|e| e.message))
            .interact_text(),
    )?;
    Ok(Some(validate(&url)?))
}

/// What setup asks about the token once the service is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenQuestion {
    /// No token is stored: an empty answer means the service takes calls without one.
    New,
    /// A token is stored for another URL: an empty answer keeps it.
    Replace,
}

/// Whether an interactive setup asks for the token: when it sends events to a
/// service, no token was given (flag, environment, fleet file), and none is stored
/// for this same URL (a re-run keeps it; `--token` changes it).
pub fn token_question(
    interactive: bool,
    url: Option<&str>,
    token_given: bool,
    existing: Option<&RuntimeConfig>,
) -> Option<TokenQuestion> {
    if !interactive || url.is_none() || token_given {
        return None;
    }
    match existing {
        Some(config) if config.token_file.is_some() => {
            (config.url.as_deref() != url).then_some(TokenQuestion::Replace)
        }
        _ => Some(TokenQuestion::New),
    }
}

/// Asks for the token, input hidden; `None` for an empty answer. Ctrl-C leaves the
/// terminal as it was (echo on) and changes nothing, as at every question.
pub fn ask_token(question: TokenQuestion) -> Result<Option<String>> {
    let prompt = match question {
        TokenQuestion::New => "Akto API token (hidden; leave empty if the service needs none)",
        TokenQuestion::Replace => {
            "Akto API token for this URL (hidden; leave empty to keep the current token)"
        }
    };
    let _asking = Asking::start();
    let token = answer(
        Password::with_theme(&ColorfulTheme::default())
            .with_prompt(prompt)
            .allow_empty_password(true)
            .interact(),
    )?;
    let token = token.trim();
    Ok((!token.is_empty()).then(|| token.to_string()))
}

/// Marks the time a question is on screen, for the Ctrl-C handler. Every question
/// comes before setup writes anything.
static ASKING: AtomicBool = AtomicBool::new(false);

struct Asking;

impl Asking {
    fn start() -> Asking {
        on_interrupt_restore_terminal();
        ASKING.store(true, Ordering::SeqCst);
        Asking
    }
}

impl Drop for Asking {
    fn drop(&mut self) {
        ASKING.store(false, Ordering::SeqCst);
    }
}

/// A hidden prompt turns the terminal's echo off, and Ctrl-C (a signal: the prompt
/// is not in raw mode) would end the process with echo still off, so the person's
/// next command line would not show what they type; a menu hides the cursor. The
/// handler puts the terminal back as it was before the first question, shows the
/// cursor, and exits 130.
fn on_interrupt_restore_terminal() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        #[cfg(unix)]
        if let Ok(saved) = rustix::termios::tcgetattr(std::io::stdin()) {
            let _ = SAVED_TERMINAL.set(saved);
        }
        if let Err(e) = ctrlc::set_handler(|| interrupted()) {
            eprintln!("warning: cannot watch for Ctrl-C ({e}); if you press it, run `stty sane`");
        }
    });
}

#[cfg(unix)]
static SAVED_TERMINAL: OnceLock<rustix::termios::Termios> = OnceLock::new();

/// Ends setup after Ctrl-C: from the signal handler's thread, or from a menu, which
/// reads Ctrl-C as a key and raises the signal itself (both may come at once; the
/// first one exits).
fn interrupted() -> ! {
    static EXITING: AtomicBool = AtomicBool::new(false);
    if EXITING.swap(true, Ordering::SeqCst) {
        loop {
            std::thread::park();
        }
    }
    #[cfg(unix)]
    if let Some(saved) = SAVED_TERMINAL.get() {
        let _ = rustix::termios::tcsetattr(
            std::io::stdin(),
            rustix::termios::OptionalActions::Now,
            saved,
        );
    }
    let what = if ASKING.load(Ordering::SeqCst) {
        "interrupted during a question; nothing was changed"
    } else {
        "interrupted"
    };
    let _ = dialoguer::console::Term::stderr().show_cursor();
    eprintln!("\ncodex-guard: {what}");
    std::process::exit(130);
}

/// A question's answer; Ctrl-C read as a key ends setup as the signal does.
fn answer<T>(result: dialoguer::Result<T>) -> Result<T> {
    match result {
        Err(dialoguer::Error::IO(e)) if e.kind() == std::io::ErrorKind::Interrupted => {
            interrupted()
        }
        other => Ok(other?),
    }
}

pub fn ask_mode() -> Result<Mode> {
    let _asking = Asking::start();
    let choice = answer(
        Select::with_theme(&ColorfulTheme::default())
            .with_prompt("Akto mode")
            .items(&[
                "argus: traffic attributed to the Codex API",
                "atlas: traffic attributed to this device",
            ])
            .default(0)
            .interact(),
    )?;
    Ok(if choice == 0 {
        Mode::Argus
    } else {
        Mode::Atlas
    })
}

pub fn ask_blocking() -> Result<bool> {
    let _asking = Asking::start();
    let choice = answer(
        Select::with_theme(&ColorfulTheme::default())
            .with_prompt("When the guardrails reject a prompt or a command")
            .items(&["block it", "only record it (observe)"])
            .default(0)
            .interact(),
    )?;
    Ok(choice == 0)
}

pub fn confirm(prompt: &str) -> Result<bool> {
    let _asking = Asking::start();
    answer(
        Confirm::with_theme(&ColorfulTheme::default())
            .with_prompt(prompt)
            .default(true)
            .interact(),
    )
}

pub fn print_summary(layout: &Layout, choices: &Choices, changes: &[(PathBuf, &str)]) {
    eprintln!(
        "codex-guard will protect the Codex home {}",
        layout.codex_home.display()
    );
    match &choices.config.url {
        Some(url) => eprintln!(
            "  guardrails: {url} ({}, {}, fail {})",
            choices.config.mode.as_str(),
            if choices.config.blocking {
                "blocking"
            } else {
                "observe only"
            },
            if choices.config.fail_closed {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn installed(url: &str, token: bool) -> RuntimeConfig {
        RuntimeConfig {
            url: Some(url.into()),
            token_file: token.then(|| PathBuf::from("/h/.codex/codex-guard/token")),
            ..RuntimeConfig::default()
        }
    }

    #[test]
    fn the_token_is_asked_for_a_service_only_when_nobody_gave_or_kept_one() {
        let url = Some("https://akto.example");
        // A first interactive install that talks to a service.
        assert_eq!(
            token_question(true, url, false, None),
            Some(TokenQuestion::New)
        );
        // Not when silent, local-only, or given by --token / --token-file / the env.
        assert_eq!(token_question(false, url, false, None), None);
        assert_eq!(token_question(true, None, false, None), None);
        assert_eq!(token_question(true, url, true, None), None);
        // A re-run keeps the token stored for the same URL.
        let same = installed("https://akto.example", true);
        assert_eq!(token_question(true, url, false, Some(&same)), None);
        // A new URL: the stored token may not be the new service's.
        let other = installed("https://old.example", true);
        assert_eq!(
            token_question(true, url, false, Some(&other)),
            Some(TokenQuestion::Replace)
        );
        // An install without a token, or a local-only one, is asked.
        let tokenless = installed("https://akto.example", false);
        assert_eq!(
            token_question(true, url, false, Some(&tokenless)),
            Some(TokenQuestion::New)
        );
        let local = RuntimeConfig::default();
        assert_eq!(
            token_question(true, url, false, Some(&local)),
            Some(TokenQuestion::New)
        );
    }
}
