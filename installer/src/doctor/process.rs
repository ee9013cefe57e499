//! Running the programs doctor asks (the Codex CLI, the hook runtime) with a hard
//! deadline, so a hung child can never hang the check: it is killed with its whole
//! process group (Codex's npm launcher starts a native binary of its own).

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// How long the output of an exited program may take to arrive.
const PIPE_GRACE: Duration = Duration::from_secs(2);

/// What a finished program printed.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command` with stdin from /dev/null; an error (a sentence) when it cannot
/// start or does not finish within `timeout`.
pub fn run(mut command: Command, timeout: Duration) -> Result<Finished, String> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    own_group(&mut command);
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start it: {e}"))?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let Some(status) = wait_with_deadline(&mut child, timeout) else {
        return Err(format!("it did not finish within {} s", timeout.as_secs()));
    };
    let collect = |pipe: &Receiver<String>| {
        pipe.recv_timeout(PIPE_GRACE).unwrap_or_else(|_| {
            // Something it started still holds the pipe (so its group still exists).
            kill_group(&child);
            pipe.recv_timeout(PIPE_GRACE).unwrap_or_default()
        })
    };
    let stdout = collect(&stdout);
    let stderr = collect(&stderr);
    Ok(Finished {
        status,
        stdout,
        stderr,
    })
}

/// Waits for `child`; `None` (after killing it) when the deadline passes first.
pub fn wait_with_deadline(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                kill_group(child);
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// Starts the child in a process group of its own, so [`kill_group`] ends everything
/// it started too.
pub fn own_group(command: &mut Command) {
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(command, 0);
    #[cfg(not(unix))]
    let _ = command;
}

/// SIGKILLs the process group started for `child` (see [`own_group`]). std has no
/// killpg and this crate allows no unsafe code, so the `kill` utility does it.
pub fn kill_group(child: &Child) {
    #[cfg(unix)]
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    #[cfg(not(unix))]
    let _ = child;
}

/// Reads a pipe to its end on a thread; the text arrives on the returned channel.
fn drain(pipe: Option<impl Read + Send + 'static>) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(pipe) = pipe {
            // Bounded: a runaway child must not fill memory.
            let _ = pipe.take(1 << 20).read_to_end(&mut bytes);
        }
        let _ = sender.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    receiver
}
