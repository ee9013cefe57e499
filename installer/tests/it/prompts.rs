//! Interactive setup at a real terminal: `script` (util-linux) gives `codex-guard
//! setup` a pseudo-terminal, and the test answers its questions as a person would,
//! waiting for each prompt. The token question hides what is typed, takes an empty
//! answer for a service without a token, and Ctrl-C at it leaves the terminal's echo
//! on and nothing installed.

use crate::common::TestEnv;
use codex_guard_e2e::http::{self, Request, Server};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "typed-token-5e1f";
const WAIT: Duration = Duration::from_secs(20);

/// `codex-guard` running in a pseudo-terminal, its screen collected as it comes.
struct Terminal {
    child: Child,
    screen: Arc<Mutex<String>>,
}

fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

impl Terminal {
    /// Runs `shell_command` with `sh` inside `script`, in `env`'s home.
    fn start(env: &TestEnv, shell_command: &str) -> Terminal {
        let mut child = Command::new("script")
            .args(["--quiet", "--flush", "--return", "--command", shell_command])
            .arg("/dev/null")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", env.root.join("my home"))
            .env("TMPDIR", env.tmpdir())
            .env("CODEX_GUARD_SYSTEM_ROOT", env.root.join("system"))
            .env("SHELL", "/bin/sh")
            .env("TERM", "xterm")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run `script` (util-linux), which gives setup a terminal");
        let screen = Arc::new(Mutex::new(String::new()));
        let mut stdout = child.stdout.take().unwrap();
        let sink = Arc::clone(&screen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Terminal { child, screen }
    }

    fn screen(&self) -> String {
        self.screen.lock().unwrap().clone()
    }

    /// Waits until the screen shows `needle` (after `from` bytes of it).
    #[track_caller]
    fn expect(&self, needle: &str, from: usize) -> usize {
        let deadline = Instant::now() + WAIT;
        loop {
            let screen = self.screen();
            if let Some(at) = screen.get(from..).and_then(|s| s.find(needle)) {
                return from + at + needle.len();
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} on the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Types `keys` once the prompt is up (the hidden prompt flushes what was typed
    /// before it).
    fn type_keys(&mut self, keys: &str) {
        std::thread::sleep(Duration::from_millis(300));
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(keys.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    fn finish(mut self) -> String {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + WAIT;
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "still running:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // The reader thread drains what is left.
        std::thread::sleep(Duration::from_millis(100));
        self.screen()
    }
}

/// A service that takes calls with `TOKEN` or, when `token` is `None`, without one.
fn service(token: Option<&'static str>) -> Server {
    let handler = move |request: &Request, stream: &mut dyn Write| {
        let status = if request.header("authorization") == token {
            200
        } else {
            401
        };
        http::write_response(stream, status, "application/json", b"{\"success\":true}")
    };
    Server::start(Arc::new(handler))
}

fn setup_command(env: &TestEnv, url: &str) -> String {
    format!(
        "{} setup --codex-home {} --runtime {} --url {url}",
        quote(&assert_cmd::cargo::cargo_bin("codex-guard")),
        quote(&env.codex_home),
        quote(&env.runtime),
    )
}

/// Answers the questions after the token: mode, blocking, and the confirmation.
fn accept_the_rest(term: &mut Terminal, from: usize) {
    let at = term.expect("Akto mode", from);
    term.type_keys("\r");
    let at = term.expect("When the guardrails reject", at);
    term.type_keys("\r");
    term.expect("Apply these changes?", at);
    term.type_keys("y");
}

#[test]
fn the_token_typed_at_the_hidden_prompt_is_stored_and_used() {
    let env = TestEnv::new();
    let akto = service(Some(TOKEN));
    let command = format!("{}; echo EXIT=$?", setup_command(&env, &akto.url()));
    let mut term = Terminal::start(&env, &command);
    let at = term.expect("Akto API token (hidden; leave empty", 0);
    term.type_keys(&format!("{TOKEN}\r"));
    accept_the_rest(&mut term, at);
    let screen = term.finish();
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(!screen.contains(TOKEN), "the token was shown:\n{screen}");
    assert_eq!(env.read("codex-guard/token"), format!("{TOKEN}\n"));
    let probes = akto.requests();
    assert_eq!(probes.len(), 1, "{probes:?}");
    assert_eq!(probes[0].header("authorization"), Some(TOKEN));
}

#[test]
fn an_empty_answer_installs_without_a_token() {
    let env = TestEnv::new();
    let akto = service(None);
    let command = format!("{}; echo EXIT=$?", setup_command(&env, &akto.url()));
    let mut term = Terminal::start(&env, &command);
    let at = term.expect("Akto API token (hidden; leave empty", 0);
    term.type_keys("\r");
    accept_the_rest(&mut term, at);
    let screen = term.finish();
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(!env.codex_home.join("codex-guard/token").exists());
    assert!(!env.read("codex-guard/config.toml").contains("token_file"));
    assert_eq!(akto.requests()[0].header("authorization"), None);
}

#[test]
fn a_rejected_typed_token_names_the_flags_that_fix_it() {
    let env = TestEnv::new();
    let akto = service(Some(TOKEN));
    let command = format!("{}; echo EXIT=$?", setup_command(&env, &akto.url()));
    let mut term = Terminal::start(&env, &command);
    let at = term.expect("Akto API token", 0);
    term.type_keys("not-the-token\r");
    accept_the_rest(&mut term, at);
    let screen = term.finish();
    assert!(screen.contains("EXIT=1"), "{screen}");
    assert!(screen.contains("rejected the token (HTTP 401)"), "{screen}");
    assert!(
        screen.contains("--token-file FILE` (or --token TOKEN)"),
        "{screen}"
    );
    assert!(!screen.contains("not-the-token"), "{screen}");
    assert!(
        env.codex_home.join("hooks.json").is_file(),
        "installed anyway"
    );
}

/// Setup exited 130 and left the terminal's echo, line editing and signals on (as
/// `stty -a` printed them after it): returns those modes.
#[track_caller]
fn interrupted(screen: &str) -> &str {
    let at = screen
        .find("EXIT=130")
        .unwrap_or_else(|| panic!("setup did not exit 130:\n{screen}"));
    let modes = &screen[at..];
    for mode in ["echo", "icanon", "isig"] {
        assert!(
            modes.split_whitespace().any(|w| w == mode),
            "{mode} is off after Ctrl-C:\n{modes}"
        );
    }
    modes
}

#[test]
fn ctrl_c_at_the_token_prompt_leaves_echo_on_and_nothing_installed() {
    let env = TestEnv::new();
    let before = env.snapshot();
    // The shell survives the interrupt (its trap) to show the terminal's modes after.
    let command = format!(
        "trap true INT; {}; echo EXIT=$?; stty -a",
        setup_command(&env, "http://127.0.0.1:9")
    );
    let mut term = Terminal::start(&env, &command);
    term.expect("Akto API token", 0);
    term.type_keys("half-typed\u{3}");
    let screen = term.finish();
    let modes = interrupted(&screen);
    assert!(
        screen.contains("interrupted during a question; nothing was changed"),
        "{screen}"
    );
    assert!(!modes.contains("-echo "), "{modes}");
    assert_eq!(env.snapshot(), before, "nothing was written");
}

#[test]
fn ctrl_c_at_a_later_question_also_leaves_the_terminal_sane_and_nothing_installed() {
    let env = TestEnv::new();
    let before = env.snapshot();
    let command = format!(
        "trap true INT; {}; echo EXIT=$?; stty -a",
        setup_command(&env, "http://127.0.0.1:9")
    );
    let mut term = Terminal::start(&env, &command);
    let at = term.expect("Akto API token", 0);
    term.type_keys("\r");
    term.expect("Akto mode", at);
    term.type_keys("\u{3}");
    let screen = term.finish();
    interrupted(&screen);
    // The cursor the menu hid is shown again.
    assert!(screen.contains("\u{1b}[?25h"), "{screen:?}");
    assert_eq!(env.snapshot(), before, "nothing was written");
}

/// `codex-guard <args>` on `env`'s home in a terminal whose shell survives Ctrl-C
/// and prints the exit code and the terminal's modes after it.
fn interruptible(env: &TestEnv, args: &str) -> Terminal {
    let command = format!(
        "trap true INT; {} {args} --codex-home {}; echo EXIT=$?; stty -a",
        quote(&assert_cmd::cargo::cargo_bin("codex-guard")),
        quote(&env.codex_home),
    );
    Terminal::start(env, &command)
}

/// Ctrl-C ended the command as [`interrupted`] says, with the cursor shown again and
/// the home byte for byte as it was.
#[track_caller]
fn cleanly_interrupted(env: &TestEnv, screen: &str, before: &[(std::path::PathBuf, Vec<u8>)]) {
    interrupted(screen);
    let at = screen.find("EXIT=130").unwrap();
    assert!(
        screen[..at].contains("\u{1b}[?25h"),
        "the cursor stays hidden:\n{screen:?}"
    );
    assert_eq!(env.snapshot(), before, "nothing was written");
}

#[test]
fn ctrl_c_at_the_first_question_restores_the_terminal_and_writes_nothing() {
    let env = TestEnv::new();
    let before = env.snapshot();
    let runtime = quote(&env.runtime);
    let mut term = interruptible(&env, &format!("setup --runtime {runtime}"));
    term.expect("Where should codex-guard send events?", 0);
    term.type_keys("\u{3}");
    let screen = term.finish();
    cleanly_interrupted(&env, &screen, &before);
}

#[test]
fn ctrl_c_at_the_confirmation_leaves_a_new_home_without_even_a_lock_file() {
    let env = TestEnv::new();
    let before = env.snapshot();
    let runtime = quote(&env.runtime);
    let mut term = interruptible(&env, &format!("setup --local-only --runtime {runtime}"));
    term.expect("Apply these changes?", 0);
    term.type_keys("\u{3}");
    let screen = term.finish();
    cleanly_interrupted(&env, &screen, &before);
    assert!(!env.codex_home.join("codex-guard").exists(), "{screen}");
}

#[test]
fn no_at_the_confirmation_changes_nothing() {
    let env = TestEnv::new();
    let before = env.snapshot();
    let runtime = quote(&env.runtime);
    let mut term = interruptible(&env, &format!("setup --local-only --runtime {runtime}"));
    term.expect("Apply these changes?", 0);
    term.type_keys("n");
    let screen = term.finish();
    assert!(
        screen.contains("Nothing was changed.\r\nEXIT=0"),
        "{screen:?}"
    );
    assert_eq!(env.snapshot(), before, "nothing was written");
}

#[test]
fn ctrl_c_at_the_restore_question_restores_the_terminal_and_writes_nothing() {
    let env = TestEnv::new().file("config.toml", "model = \"mine\"\n");
    env.setup(&["--local-only"]).success();
    let before = env.snapshot();
    let mut term = interruptible(&env, "restore --latest");
    term.expect("Restore these files from", 0);
    term.type_keys("\u{3}");
    let screen = term.finish();
    cleanly_interrupted(&env, &screen, &before);
}

#[test]
fn an_interactive_setup_lists_each_file_once_and_then_the_next_steps() {
    let env = TestEnv::new();
    let runtime = quote(&env.runtime);
    let mut term = interruptible(&env, &format!("setup --local-only --runtime {runtime}"));
    term.expect("Apply these changes?", 0);
    term.type_keys("y");
    let screen = term.finish();
    assert!(screen.contains("EXIT=0"), "{screen}");
    let hooks = env.codex_home.join("hooks.json").display().to_string();
    assert_eq!(screen.matches(&hooks).count(), 1, "{screen}");
    assert!(
        screen.contains("changed the 7 file(s) listed above"),
        "{screen}"
    );
    assert!(screen.contains("codex-guard doctor"), "{screen}");
}

#[test]
fn an_interactive_uninstall_lists_what_it_removes_once() {
    let env = TestEnv::new().file("config.toml", "model = \"mine\"\n");
    env.setup(&["--local-only"]).success();
    let backups = quote(&env.root.join("uninstall-backups"));
    let mut term = interruptible(&env, &format!("uninstall --backup-dir {backups}"));
    term.expect("Uninstall?", 0);
    term.type_keys("y");
    let screen = term.finish();
    assert!(screen.contains("EXIT=0"), "{screen}");
    let hooks = env.codex_home.join("hooks.json").display().to_string();
    assert_eq!(screen.matches(&hooks).count(), 1, "{screen}");
    assert!(screen.contains("as listed above"), "{screen}");
    assert!(!env.codex_home.join("codex-guard").exists());
}
