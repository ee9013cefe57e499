//! Running child processes with a hard deadline, so a hung Codex (or a hook it waits on)
//! fails the test with its output instead of hanging the suite.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What a finished process printed.
#[derive(Debug)]
pub struct Output {
    /// The command line, for failure messages.
    pub command: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Panics with everything the process printed unless it exited 0.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(self.success(), "command failed: {self}");
        self
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}\n  exit: {}\n  stdout:\n{}\n  stderr:\n{}",
            self.command,
            self.status,
            indent(&self.stdout),
            indent(&self.stderr)
        )
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `command` with stdin from /dev/null, capturing stdout and stderr, killing its
/// whole process group (Codex spawns a native binary and hook shells) after `timeout`.
#[track_caller]
pub fn run(mut command: Command, timeout: Duration) -> Output {
    let description = describe(&command);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {description}: {e}"));
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = wait_with_deadline(&mut child, timeout);
    // Leftovers (a hook still running, a helper daemon) would keep the pipes open.
    kill_group(&child);
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    match status {
        Some(status) => Output {
            command: description,
            status,
            stdout,
            stderr,
        },
        None => panic!(
            "{description} did not finish within {timeout:?} and was killed\n  stdout:\n{}\n  stderr:\n{}",
            indent(&stdout),
            indent(&stderr)
        ),
    }
}

/// Waits for `child`; `None` (after killing it) when the deadline passes first.
pub fn wait_with_deadline(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(25)),
            _ => {
                kill_group(child);
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// SIGKILLs the process group this suite created for `child` (see `process_group(0)`).
pub fn kill_group(child: &Child) {
    // std has no killpg; the `kill` utility takes a negative id for a group.
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// The program and its arguments, shell-quoted enough to paste into a terminal.
pub fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|arg| {
            let arg = arg.to_string_lossy();
            if !arg.is_empty()
                && arg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:@,".contains(c))
            {
                arg.into_owned()
            } else {
                format!("'{}'", arg.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `command` with `stdin` written to its standard input (a hook event), capturing
/// stdout and stderr; for commands that end on their own once stdin is closed.
#[track_caller]
pub fn run_with_stdin(mut command: Command, stdin: &[u8]) -> std::process::Output {
    let description = describe(&command);
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {description}: {e}"));
    if let Some(mut pipe) = child.stdin.take() {
        use std::io::Write;
        pipe.write_all(stdin)
            .unwrap_or_else(|e| panic!("cannot write to {description}: {e}"));
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("cannot wait for {description}: {e}"))
}

/// The reason of the PreToolUse deny a hook printed; panics naming what it printed
/// instead (no JSON, another decision, a failed exit).
#[track_caller]
pub fn deny_reason(out: &std::process::Output) -> String {
    assert!(out.status.success(), "the hook failed: {out:?}");
    let decision: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("the hook did not block: {out:?}"));
    let specific = &decision["hookSpecificOutput"];
    assert_eq!(specific["permissionDecision"], "deny", "{decision}");
    specific["permissionDecisionReason"]
        .as_str()
        .unwrap_or_else(|| panic!("a deny without a reason: {decision}"))
        .to_string()
}
