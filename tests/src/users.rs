//! Throwaway local accounts for tests that play an attacker: another user on the
//! machine, or an ordinary user against a managed install. Each account is created
//! with `useradd` and removed (with its home) when dropped.
//!
//! Creating accounts needs root (CI runs as root). Where `useradd` or root is
//! missing, [`LocalUser::create`] says why, and the test prints that reason and
//! returns: it never passes silently in CI, which always has both.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// An account that exists until this value is dropped.
#[derive(Debug)]
pub struct LocalUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

fn sbin_path() -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    format!("{path}:/usr/sbin:/sbin")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

impl LocalUser {
    /// Creates an account named `cg<prefix><pid><n>` with its home in `home_parent`
    /// (a temp dir of the test, so nothing lands in `/home`). `Err` says why it
    /// cannot be done here (not root, no `useradd`).
    pub fn create(prefix: &str, home_parent: &Path) -> Result<LocalUser, String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        if !is_root() {
            return Err("creating a throwaway account needs root (CI runs as root)".into());
        }
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        // Names are at most 32 characters; keep them short and unique per process.
        let prefix: String = prefix
            .chars()
            .filter(char::is_ascii_lowercase)
            .take(8)
            .collect();
        let name = format!("cg{prefix}{}{n}", std::process::id() % 1_000_000);
        let home = home_parent.join(&name);
        let out = Command::new("useradd")
            .env("PATH", sbin_path())
            .args([
                "--create-home",
                "--shell",
                "/bin/sh",
                "--user-group",
                "--home-dir",
            ])
            .arg(&home)
            .arg(&name)
            .output()
            .map_err(|e| format!("useradd cannot run here ({e}); install the passwd package"))?;
        if !out.status.success() {
            return Err(format!(
                "useradd {name} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let id = |flag: &str| -> Result<u32, String> {
            let out = Command::new("id")
                .arg(flag)
                .arg(&name)
                .output()
                .map_err(|e| e.to_string())?;
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .map_err(|e| format!("id {flag} {name}: {e}"))
        };
        let user = LocalUser {
            uid: id("-u")?,
            gid: id("-g")?,
            name,
            home,
        };
        // A temp dir is 0700 root: let the account reach its own home.
        let mut dir = user.home.parent();
        while let Some(d) = dir {
            if d == Path::new("/") {
                break;
            }
            let _ = Command::new("chmod").arg("o+x").arg(d).status();
            dir = d.parent();
        }
        Ok(user)
    }

    /// A command that runs `program` as this account (via `setpriv`, with its own
    /// uid, gid and no supplementary groups), with `HOME` set to the account's home
    /// and an environment cleared of everything else but `PATH`.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("setpriv");
        cmd.arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .arg("--clear-groups")
            .arg("--")
            .arg(program)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("USER", &self.name)
            .env("LOGNAME", &self.name)
            .current_dir(&self.home);
        cmd
    }

    /// Runs `sh -c script` as this account; panics when it cannot start.
    pub fn sh(&self, script: &str) -> std::process::Output {
        self.command("sh")
            .arg("-c")
            .arg(script)
            .output()
            .expect("setpriv (util-linux) runs")
    }
}

impl Drop for LocalUser {
    fn drop(&mut self) {
        // Processes the test left behind would make userdel refuse.
        let _ = Command::new("pkill")
            .args(["-KILL", "-u"])
            .arg(&self.name)
            .status();
        let _ = Command::new("userdel")
            .env("PATH", sbin_path())
            .arg("--remove")
            .arg(&self.name)
            .output();
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

/// Creates an account for an attack test, or prints why it cannot and returns
/// `None` so the test ends early, visibly.
pub fn local_user_or_skip(test: &str, home_parent: &Path) -> Option<LocalUser> {
    match LocalUser::create(test, home_parent) {
        Ok(user) => Some(user),
        Err(why) => {
            eprintln!("SKIPPED {test}: {why}");
            None
        }
    }
}
