//! The unified diff setup, uninstall and restore print for `--dry-run` and `--diff`:
//! one renderer, so every command shows a change to a file the same way.

use crate::fsutil;
use codex_guard_common::Layout;
use std::fmt::Write as _;
use std::path::Path;

/// How a file's change is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    /// Line by line (text; a file that turns out not to be UTF-8 is shown by hash).
    Diff,
    /// Only by hash (the hook runtime, a binary).
    Hash,
    /// Only its size (the token).
    Secret,
}

impl Show {
    /// How a file of the Codex home `layout` is shown, when nothing else says.
    pub fn for_file(layout: &Layout, path: &Path) -> Show {
        if path == layout.token() {
            Show::Secret
        } else if path == layout.runtime_bin() {
            Show::Hash
        } else {
            Show::Diff
        }
    }
}

/// One file's content before and after; `None` is a file that does not exist.
pub struct FileDiff<'a> {
    pub path: &'a Path,
    pub before: Option<&'a [u8]>,
    pub after: Option<&'a [u8]>,
    pub show: Show,
}

/// The unified diff of `files`, headed `a/<path>` and `b/<path>` (`/dev/null` for a
/// file created or removed), with three lines of context.
pub fn render<'a>(files: impl IntoIterator<Item = FileDiff<'a>>) -> String {
    let mut out = String::new();
    for file in files {
        if file.before == file.after {
            continue;
        }
        let path = file.path.display().to_string();
        let old_name = match file.before {
            Some(_) => format!("a/{path}"),
            None => "/dev/null".to_string(),
        };
        let new_name = match file.after {
            Some(_) => format!("b/{path}"),
            None => "/dev/null".to_string(),
        };
        let text = |bytes: Option<&'a [u8]>| std::str::from_utf8(bytes.unwrap_or_default()).ok();
        match (file.show, text(file.before), text(file.after)) {
            (Show::Diff, Some(before), Some(after)) => out.push_str(
                &similar::TextDiff::from_lines(before, after)
                    .unified_diff()
                    .context_radius(3)
                    .header(&old_name, &new_name)
                    .to_string(),
            ),
            (Show::Secret, ..) => {
                let size = |bytes: Option<&[u8]>| {
                    bytes.map_or_else(|| "absent".to_string(), |b| format!("{} bytes", b.len()))
                };
                _ = write!(
                    out,
                    "--- {old_name}\n+++ {new_name}\n secret not shown: {} -> {}\n",
                    size(file.before),
                    size(file.after)
                );
            }
            _ => {
                let hash = |bytes: Option<&[u8]>| {
                    bytes.map_or_else(
                        || "absent".to_string(),
                        |b| format!("sha256 {}", fsutil::sha256_hex(b)),
                    )
                };
                _ = write!(
                    out,
                    "--- {old_name}\n+++ {new_name}\n binary: {} -> {}\n",
                    hash(file.before),
                    hash(file.after)
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(before: Option<&[u8]>, after: Option<&[u8]>, show: Show) -> String {
        render([FileDiff {
            path: Path::new("/h/.codex/f"),
            before,
            after,
            show,
        }])
    }

    #[test]
    fn text_is_diffed_line_by_line_with_dev_null_for_a_missing_side() {
        assert_eq!(
            one(Some(b"a\nb\n"), Some(b"a\nc\n"), Show::Diff),
            "--- a//h/.codex/f\n+++ b//h/.codex/f\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"
        );
        assert_eq!(
            one(None, Some(b"x\n"), Show::Diff),
            "--- /dev/null\n+++ b//h/.codex/f\n@@ -0,0 +1 @@\n+x\n"
        );
        assert_eq!(
            one(Some(b"x\n"), None, Show::Diff),
            "--- a//h/.codex/f\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n"
        );
        assert_eq!(one(Some(b"same"), Some(b"same"), Show::Diff), "");
    }

    #[test]
    fn secrets_show_only_sizes_and_binaries_only_hashes() {
        let secret = one(Some(b"old-token"), Some(b"new"), Show::Secret);
        assert_eq!(
            secret,
            "--- a//h/.codex/f\n+++ b//h/.codex/f\n secret not shown: 9 bytes -> 3 bytes\n"
        );
        // Text that is not UTF-8 is shown by hash, not mangled into a diff.
        let binary = one(Some(b"\xff\xfe"), None, Show::Diff);
        assert_eq!(
            binary,
            format!(
                "--- a//h/.codex/f\n+++ /dev/null\n binary: sha256 {} -> absent\n",
                fsutil::sha256_hex(b"\xff\xfe")
            )
        );
    }
}
