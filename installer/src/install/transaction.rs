//! Applying a plan to the files: each change is made in order, and every change made
//! so far is undone, newest first, when a later one fails or when the transaction is
//! dropped without [`Transaction::commit`] (an early `?`, a panic). Setup, uninstall
//! and restore (per user and machine-wide) all write through one of these, after
//! taking their backup, so that a full disk or a permission half way leaves the
//! machine as it was, not half installed.

use crate::failure::{ExitCode, Failure};
use crate::fsutil;
use anyhow::Result;
use std::path::{Path, PathBuf};

/// How to put one file back.
struct Undo {
    path: PathBuf,
    /// The content before the change; `None`: the file did not exist.
    before: Option<Vec<u8>>,
    mode: u32,
}

/// The changes made so far, and how to undo them.
pub struct Transaction {
    /// The command, for messages: `setup`, `uninstall`, `restore`.
    what: &'static str,
    done: Vec<Undo>,
    /// Changes that cannot be undone byte for byte (a removed directory tree): a
    /// failure after one of them points to the backup instead.
    lost: Vec<PathBuf>,
    committed: bool,
}

impl Transaction {
    pub fn new(what: &'static str) -> Transaction {
        Transaction {
            what,
            done: Vec::new(),
            lost: Vec::new(),
            committed: false,
        }
    }

    /// Writes `after` to `path` atomically with `mode` (or deletes the file when
    /// `after` is `None`), remembering `before` to undo it.
    pub fn put(
        &mut self,
        path: &Path,
        before: Option<&[u8]>,
        after: Option<&[u8]>,
        mode: u32,
    ) -> Result<()> {
        self.run(path, before, mode, || match after {
            Some(bytes) => fsutil::write_atomic(path, bytes, mode),
            None => remove_file(path),
        })
    }

    /// Runs `change`, which turns `path` from `before` into something else, and
    /// remembers `before` to undo it. For changes with more to them than a write
    /// (creating the directories above, forcing a mode).
    pub fn run(
        &mut self,
        path: &Path,
        before: Option<&[u8]>,
        mode: u32,
        change: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        change()?;
        self.done.push(Undo {
            path: path.to_path_buf(),
            before: before.map(<[u8]>::to_vec),
            mode,
        });
        Ok(())
    }

    /// Runs a change that cannot be undone from memory (removing a directory tree);
    /// the backup taken before the transaction holds it.
    pub fn run_lossy(&mut self, path: &Path, change: impl FnOnce() -> Result<()>) -> Result<()> {
        change()?;
        self.lost.push(path.to_path_buf());
        Ok(())
    }

    /// Keeps every change.
    pub fn commit(mut self) {
        self.committed = true;
    }

    /// Undoes every change after `error`, newest first, and says what happened:
    /// everything put back, or which files could not be and how to go back by hand
    /// (`undo`, e.g. "`codex-guard restore FILE` to go back").
    pub fn roll_back(mut self, error: anyhow::Error, undo: &str) -> anyhow::Error {
        self.committed = true;
        // A refusal of the first change (a permission, say) is its own clear message.
        if self.done.is_empty() && self.lost.is_empty() && error.is::<Failure>() {
            return error;
        }
        let left = self.undo_all();
        let what = self.what;
        let (message, hint) = if left.is_empty() && self.lost.is_empty() {
            (
                format!("{error:#}; every file {what} had written was put back as it was"),
                format!(
                    "free the space (or fix the permission) named above and run the same `codex-guard {what}` again"
                ),
            )
        } else {
            let names: Vec<String> = left
                .iter()
                .chain(&self.lost)
                .map(|p| p.display().to_string())
                .collect();
            (
                format!(
                    "{error:#}; these could not be put back: {}",
                    names.join(", ")
                ),
                format!(
                    "free the space named above, then run the command again to finish, or {undo}"
                ),
            )
        };
        Failure {
            code: ExitCode::Degraded,
            message,
            hint: Some(hint),
        }
        .into()
    }

    /// Puts back what it can, newest first; returns the paths it could not.
    fn undo_all(&mut self) -> Vec<PathBuf> {
        let mut left = Vec::new();
        while let Some(undo) = self.done.pop() {
            let undone = match &undo.before {
                Some(bytes) => fsutil::write_atomic(&undo.path, bytes, undo.mode),
                None => remove_file(&undo.path),
            };
            if undone.is_err() {
                left.push(undo.path);
            }
        }
        left
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        let left = self.undo_all();
        for path in left.iter().chain(&self.lost) {
            eprintln!(
                "codex-guard: {} could not be put back after the failure above",
                path.display()
            );
        }
    }
}

/// Removes a file (a symlink itself, not what it points at); one already gone is fine.
fn remove_file(path: &Path) -> Result<()> {
    match fs_err::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &Path) -> Option<Vec<u8>> {
        std::fs::read(path).ok()
    }

    #[test]
    fn a_failure_half_way_puts_every_earlier_change_back() {
        let dir = tempfile::tempdir().unwrap();
        let edited = dir.path().join("config.toml");
        let created = dir.path().join("hooks.json");
        let removed = dir.path().join("old.json");
        std::fs::write(&edited, b"before\n").unwrap();
        std::fs::write(&removed, b"old\n").unwrap();

        let mut tx = Transaction::new("setup");
        tx.put(&edited, Some(b"before\n"), Some(b"after\n"), 0o600)
            .unwrap();
        tx.put(&created, None, Some(b"{}\n"), 0o600).unwrap();
        tx.put(&removed, Some(b"old\n"), None, 0o600).unwrap();
        let error = tx
            .run(&dir.path().join("x"), None, 0o600, || {
                anyhow::bail!("No space left on device")
            })
            .unwrap_err();
        let error = tx.roll_back(error, "restore the backup");
        let message = format!("{error:#}");
        assert!(message.contains("No space left on device"), "{message}");
        assert!(
            message.contains("every file setup had written was put back"),
            "{message}"
        );
        assert_eq!(read(&edited).as_deref(), Some(&b"before\n"[..]));
        assert_eq!(read(&created), None);
        assert_eq!(read(&removed).as_deref(), Some(&b"old\n"[..]));
    }

    #[test]
    fn dropped_without_commit_it_undoes_and_committed_it_keeps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a");
        {
            let mut tx = Transaction::new("setup");
            tx.put(&path, None, Some(b"new"), 0o600).unwrap();
            assert_eq!(read(&path).as_deref(), Some(&b"new"[..]));
        }
        assert_eq!(read(&path), None);

        let mut tx = Transaction::new("setup");
        tx.put(&path, None, Some(b"new"), 0o600).unwrap();
        tx.commit();
        assert_eq!(read(&path).as_deref(), Some(&b"new"[..]));
    }

    #[test]
    fn a_change_it_cannot_undo_is_named_with_the_way_back() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("codex-guard");
        std::fs::create_dir(&tree).unwrap();
        let mut tx = Transaction::new("setup");
        tx.run_lossy(&tree, || Ok(fs_err::remove_dir_all(&tree)?))
            .unwrap();
        let error = tx.roll_back(anyhow::anyhow!("disk full"), "`codex-guard restore B`");
        let failure = error.downcast_ref::<Failure>().unwrap();
        assert!(failure.message.contains(&tree.display().to_string()));
        assert!(failure
            .hint
            .as_deref()
            .unwrap()
            .contains("codex-guard restore B"));
    }
}
