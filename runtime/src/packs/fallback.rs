//! The packs' last line for a command the shell parser could not read in full
//! (syntax it lacks, a command past the size the hook parses): patterns on the
//! raw text for the usual spellings of each pack's harm. They are tripwires, not
//! the analysis; the audit log notes every command judged this way.

use super::{Finding, Pack};
use regex_lite::Regex;

fn pattern(pack: Pack) -> &'static str {
    match pack {
        Pack::Filesystem => {
            r#"(?x)
            (^|[\s;&|(`'"/{]) rm \s ([^;&|\n]*\s)? (-[a-zA-Z]*[rR][a-zA-Z]*|--rec[a-z]*) \s ([^;&|\n]*\s)?
              ['"]? (/|~|\$HOME|\$\{HOME\}|/home/[^/\s]+|/Users/[^/\s]+|/root) /?\*? ['"]? ($|[\s;&|)`])
          | --no-preserve-root
          | (^|[\s;&|(`'"/{]) find \s+ (/|~|\$HOME) \s [^;&|\n]* -delete"#
        }
        Pack::Download => {
            r"(?x)
            \b(curl|wget|fetch)\b [^;&\n]* \|&? \s* (\S+\s+)* (ba|z|da|k|a|fi)?sh\b
          | \b(curl|wget)\b [^;&\n]* \|&? \s* (\S+\s+)* (python[0-9.]*|perl|ruby|node|php)\s*($|[;&|)])
          | (<\(|\$\(|`) \s* (curl|wget)\b
          | base64\s+(-d|--decode|-D)\b [^;&\n]* \| \s* (\S+\s+)* (ba|z|da|k)?sh\b"
        }
        Pack::Credentials => {
            r"(?x)
            \.ssh/(id_[A-Za-z0-9_-]*|[A-Za-z0-9_.-]*\.pem|identity)\b(?:[^.]|$)
          | \.aws/credentials | \.config/gcloud | \.azure/ | \.kube/config | \.docker/config\.json
          | \.netrc | \.git-credentials | /etc/shadow
          | print-access-token | export-credentials | gh\s+auth\s+token"
        }
        Pack::GitHistory => {
            r"(?x) \bgit\s+ ([^;&|\n]*\s)? push\b [^;&|\n]* (\s(-[a-zA-Z]*f[a-zA-Z]*|--force\S*|--mirror)\b | \s\+\S | \s:\S)"
        }
        Pack::Disks => {
            r#"(?x)
            \b(mkfs(\.\w+)?|mke2fs|mkswap|wipefs|blkdiscard|sgdisk|sfdisk)\b [^;&|\n]* /dev/
          | \bof= ['"]? /dev/(sd|hd|vd|xvd|nvme|mmcblk|disk|rdisk|mapper/|md|dm-)
          | > \s* /dev/(sd[a-z]|hd[a-z]|vd[a-z]|xvd[a-z]|nvme[0-9]|mmcblk[0-9]|disk[0-9]|rdisk[0-9])"#
        }
        Pack::GuardTamper => {
            r#"(?x)
            (>>?|\b(rm|mv|tee|truncate|shred|unlink|chmod|chown|sed\s[^;&|\n]*-i\S*)\s[^;&|\n]*?)
              \s* ['"]? [^\s;&|'"<>]* (\.codex/|/etc/codex|\.ssh/|\.bashrc|\.zshrc|\.zshenv|\.profile|\.bash_profile)
          | \bcodex-guard\s+(uninstall|setup|restore)\b
          | \bcodex\s[^;&|\n]*--\S*bypass\S*hook"#
        }
        Pack::GitWorkLoss => {
            r"(?x) \bgit\s+ ([^;&|\n]*\s)? (reset\s[^;&|\n]*--hard | clean\s[^;&|\n]*-[a-zA-Z]*f | stash\s+(clear|drop) | branch\s[^;&|\n]*-D\b)"
        }
    }
}

/// Texts one of which each pack's pattern needs: the pattern runs only near them,
/// so a command of megabytes costs a few substring searches.
fn anchors(pack: Pack) -> &'static [&'static str] {
    match pack {
        Pack::Filesystem => &["rm", "--no-preserve-root", "find"],
        Pack::Download => &["curl", "wget", "fetch", "base64"],
        Pack::Credentials => &[
            ".ssh/",
            ".aws/",
            ".config/gcloud",
            ".azure/",
            ".kube/",
            ".docker/",
            ".netrc",
            ".git-credentials",
            "/etc/shadow",
            "print-access-token",
            "export-credentials",
            "auth",
        ],
        Pack::GitHistory | Pack::GitWorkLoss => &["git"],
        Pack::Disks => &["/dev/"],
        Pack::GuardTamper => &[
            ".codex",
            "/etc/codex",
            ".ssh/",
            "rc",
            ".profile",
            "codex-guard",
            "--dangerously",
        ],
    }
}

/// Bytes looked at on each side of an anchor, and most anchors looked at.
const WINDOW: usize = 2048;
const MAX_ANCHORS: usize = 256;

pub fn check(pack: Pack, command: &str) -> Option<Finding> {
    let mut windows: Vec<(usize, usize)> = Vec::new();
    for anchor in anchors(pack) {
        for (at, _) in command.match_indices(anchor).take(MAX_ANCHORS) {
            let mut start = at.saturating_sub(WINDOW);
            while !command.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = (at + anchor.len() + WINDOW).min(command.len());
            while !command.is_char_boundary(end) {
                end += 1;
            }
            match windows.last_mut() {
                Some(last) if start <= last.1 && at >= last.0 => last.1 = last.1.max(end),
                _ => windows.push((start, end)),
            }
        }
    }
    if windows.is_empty() {
        return None;
    }
    let re = Regex::new(pattern(pack)).ok()?;
    let m = windows
        .iter()
        .find_map(|(start, end)| re.find(&command[*start..*end]))?;
    let excerpt: String = m.as_str().trim().chars().take(80).collect();
    Some(Finding::new(
        pack,
        "unparsed-text",
        format!("the command could not be parsed in full, and its text has `{excerpt}`"),
    ))
}
