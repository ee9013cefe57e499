//! The rules file setup leaves in place. Setup never overwrites a rules file the
//! user changed, but a file byte-identical to a template an earlier version shipped
//! was never changed by anyone: it is replaced by the current template, so an old
//! install gets the rule packs and sheds the pattern rules they replace. A changed
//! file is kept as it is; when it still holds those pattern rules, setup says so.

use crate::fsutil;
use codex_guard_hook::rules::Rules;
use std::path::Path;

/// The rules setup installs when there are none (`templates/rules.toml`).
pub const TEMPLATE: &str = include_str!("../../../templates/rules.toml");

/// SHA-256 of every `templates/rules.toml` an earlier version shipped, oldest
/// first (`git log -p -- templates/rules.toml`). When the template changes, the
/// hash of the one it replaces goes here; a unit test checks the list against git.
pub const SHIPPED_SHA256: &[&str] = &[
    // 0b702d9: the first five pattern rules.
    "76d8f41d579e48f8d8a83fc531df538f8ac2330b413741fb7c65e3e7da4b8717",
    // 6c1d931: rules by tool, path, MCP arguments and prompt; nine rules.
    "ffe8351d7ce216d5d6523b0cff9b6888b805d3731d48b9cb3ddb4d81cf0bf634",
    // a065bf8: `requires` on every rule.
    "19cc971e1ef941a4b051825e85b8f7600e29f2e67f7d7efb919532a9e03ac27a",
    // d7d24bd: `writes` rules protecting the guard and the shell startup files.
    "44fbc9d51a35c18ee1dd535ee99f3e63cdcee55443cccc7026baa6326c219e15",
];

/// The pattern rules earlier templates shipped, which the rule packs replace.
pub const OLD_SHIPPED_RULE_IDS: &[&str] = &[
    "rm-rf-root-or-home",
    "pipe-download-to-shell",
    "read-ssh-private-key",
    "read-cloud-credentials",
    "force-push-main",
    "protect-guard-and-startup-files",
    "protect-ssh-and-guard-files",
    "shell-write-protected-files",
    "wipe-disk",
    "chmod-chown-root-or-home",
];

/// What setup writes to the rules file, and a note for the person running it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub bytes: Vec<u8>,
    pub note: Option<String>,
}

/// Whether `bytes` is a template an earlier version shipped, unchanged.
pub fn is_old_template(bytes: &[u8]) -> bool {
    SHIPPED_SHA256.contains(&fsutil::sha256_hex(bytes).as_str())
}

/// The rules file to keep at `path`, which holds `current` (`None`: no file): the
/// template for no file or an unchanged old template, else the file as it is.
pub fn plan(path: &Path, current: Option<Vec<u8>>) -> Planned {
    let template = || Planned {
        bytes: TEMPLATE.as_bytes().to_vec(),
        note: None,
    };
    match current {
        None => template(),
        Some(bytes) if is_old_template(&bytes) => template(),
        Some(bytes) => {
            let note = old_rules_in(&bytes).map(|ids| {
                format!(
                    "{} is kept as you changed it; the rule packs now apply on top of it, \
                     so the old shipped pattern rules in it ({}) can be removed (docs/rules.md)",
                    path.display(),
                    ids.join(", ")
                )
            });
            Planned { bytes, note }
        }
    }
}

/// The old shipped pattern rules a rules file still holds, by id; `None` when it
/// holds none (or cannot be read as rules, which doctor reports).
fn old_rules_in(bytes: &[u8]) -> Option<Vec<String>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let rules = Rules::parse(text, None, &mut Vec::new()).ok()?;
    let ids: Vec<String> = rules
        .ids()
        .filter(|id| OLD_SHIPPED_RULE_IDS.contains(id))
        .map(str::to_string)
        .collect();
    (!ids.is_empty()).then_some(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Every version of the template in the history of this checkout, oldest
    /// first, or why it cannot be read (no git, not a repository, a shallow clone).
    fn template_history() -> Result<Vec<(String, Vec<u8>)>, String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let git = |args: &[&str]| -> Result<Vec<u8>, String> {
            let out = Command::new("git")
                .arg("-C")
                .arg(&root)
                .args(args)
                .output()
                .map_err(|e| format!("git cannot run: {e}"))?;
            if out.status.success() {
                Ok(out.stdout)
            } else {
                Err(format!(
                    "git {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        };
        let shallow = git(&["rev-parse", "--is-shallow-repository"])?;
        if String::from_utf8_lossy(&shallow).trim() != "false" {
            return Err("the checkout is a shallow clone, its history is incomplete".into());
        }
        let commits = git(&[
            "log",
            "--reverse",
            "--format=%H",
            "HEAD",
            "--",
            "templates/rules.toml",
        ])?;
        let mut versions = Vec::new();
        for commit in String::from_utf8_lossy(&commits).lines() {
            // A commit that deleted the file has no version of it.
            if let Ok(bytes) = git(&["show", &format!("{commit}:templates/rules.toml")]) {
                versions.push((commit.to_string(), bytes));
            }
        }
        if versions.is_empty() {
            return Err("git knows no version of templates/rules.toml".into());
        }
        Ok(versions)
    }

    #[test]
    fn every_earlier_template_in_git_is_listed_and_holds_only_the_old_rules() {
        let history = match template_history() {
            Ok(history) => history,
            Err(why) => {
                eprintln!(
                    "SKIPPED: the list of shipped templates is not checked against git: {why}"
                );
                return;
            }
        };
        let mut earlier = 0;
        for (commit, bytes) in &history {
            if bytes == TEMPLATE.as_bytes() {
                continue;
            }
            earlier += 1;
            let hash = fsutil::sha256_hex(bytes);
            assert!(
                SHIPPED_SHA256.contains(&hash.as_str()),
                "templates/rules.toml of {commit} (sha256 {hash}) is missing from SHIPPED_SHA256"
            );
            let text = String::from_utf8(bytes.clone()).unwrap();
            let rules = Rules::parse(&text, None, &mut Vec::new()).unwrap();
            for id in rules.ids() {
                assert!(
                    OLD_SHIPPED_RULE_IDS.contains(&id),
                    "rule {id} of {commit} is missing from OLD_SHIPPED_RULE_IDS"
                );
            }
            assert_eq!(
                plan(Path::new("/r.toml"), Some(bytes.clone())),
                Planned {
                    bytes: TEMPLATE.as_bytes().to_vec(),
                    note: None
                },
                "{commit}"
            );
        }
        assert_eq!(
            earlier,
            SHIPPED_SHA256.len(),
            "a listed hash is in no commit"
        );
    }

    #[test]
    fn the_current_template_is_not_an_old_one() {
        assert!(!is_old_template(TEMPLATE.as_bytes()));
        let installed = plan(Path::new("/r.toml"), Some(TEMPLATE.as_bytes().to_vec()));
        assert_eq!(installed.bytes, TEMPLATE.as_bytes());
        assert_eq!(installed.note, None);
        assert_eq!(plan(Path::new("/r.toml"), None).bytes, TEMPLATE.as_bytes());
    }

    #[test]
    fn a_changed_file_is_kept_with_a_note_naming_the_old_rules_it_holds() {
        let changed = "[[rule]]\nid = \"wipe-disk\"\naction = \"deny\"\ncommand = 'mkfs'\n\n\
                       [[rule]]\nid = \"mine\"\naction = \"deny\"\ncommand = 'x'\n\n\
                       [[rule]]\nid = \"force-push-main\"\naction = \"deny\"\ncommand = 'push -f'\n";
        let kept = plan(
            Path::new("/h/rules.toml"),
            Some(changed.as_bytes().to_vec()),
        );
        assert_eq!(kept.bytes, changed.as_bytes());
        assert_eq!(
            kept.note.as_deref(),
            Some(
                "/h/rules.toml is kept as you changed it; the rule packs now apply on top of it, \
                 so the old shipped pattern rules in it (wipe-disk, force-push-main) can be removed \
                 (docs/rules.md)"
            )
        );
        // One byte off an old template is a changed file.
        let old = include_bytes!("../../tests/data/rules-before-packs.toml");
        assert!(is_old_template(old));
        let mut edited = old.to_vec();
        edited.push(b'\n');
        let kept = plan(Path::new("/r.toml"), Some(edited.clone()));
        assert_eq!(kept.bytes, edited);
        assert!(kept
            .note
            .unwrap()
            .contains(&OLD_SHIPPED_RULE_IDS.join(", ")));
        for own in [
            "[[rule]]\nid = \"mine\"\naction = \"deny\"\ncommand = 'x'\n",
            "[[rule]\n",
            "\u{fffd}",
        ] {
            let kept = plan(Path::new("/r.toml"), Some(own.as_bytes().to_vec()));
            assert_eq!(kept.bytes, own.as_bytes());
            assert_eq!(kept.note, None, "{own}");
        }
    }
}
