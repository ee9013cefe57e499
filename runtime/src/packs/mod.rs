//! Rule packs: what a tool call does, judged on the shell parse of its command
//! (see [`crate::shell`]) and on the files a patch or an MCP tool touches, rather
//! than on how the command is spelled. Each pack is one kind of harm; an admin
//! sets each to `deny`, `warn` or `off` in `[packs]` of a rules file. Documented
//! per pack in docs/rules.md.

mod code;
mod credentials;
mod disks;
mod download;
mod fallback;
mod filesystem;
mod git;
pub mod opts;
mod paths;
mod tamper;

use crate::input::HookInput;
use crate::protect::PathContext;
use crate::shell::{Analysis, Invocation};
use std::fmt;

/// One kind of harm the packs guard against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pack {
    Filesystem,
    Download,
    Credentials,
    GitHistory,
    Disks,
    GuardTamper,
    GitWorkLoss,
}

impl Pack {
    pub const ALL: [Pack; 7] = [
        Pack::Filesystem,
        Pack::Disks,
        Pack::Download,
        Pack::Credentials,
        Pack::GuardTamper,
        Pack::GitHistory,
        Pack::GitWorkLoss,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Pack::Filesystem => "filesystem",
            Pack::Download => "download",
            Pack::Credentials => "credentials",
            Pack::GitHistory => "git-history",
            Pack::Disks => "disks",
            Pack::GuardTamper => "guard-tamper",
            Pack::GitWorkLoss => "git-work-loss",
        }
    }

    pub fn from_name(name: &str) -> Option<Pack> {
        Pack::ALL.into_iter().find(|p| p.name() == name)
    }

    /// What a pack is set to when no rules file names it: git work-loss only
    /// warns (a developer discards work on purpose often enough), the rest deny.
    pub fn default_level(self) -> Level {
        match self {
            Pack::GitWorkLoss => Level::Warn,
            _ => Level::Deny,
        }
    }

    fn index(self) -> usize {
        Pack::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }
}

impl fmt::Display for Pack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a pack does when it finds something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Off,
    /// Block the first time, let the identical call through when it is made again.
    Warn,
    Deny,
}

impl Level {
    pub fn parse(text: &str) -> Option<Level> {
        match text {
            "off" => Some(Level::Off),
            "warn" => Some(Level::Warn),
            "deny" => Some(Level::Deny),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Off => "off",
            Level::Warn => "warn",
            Level::Deny => "deny",
        }
    }
}

/// The packs a rules file sets (`None`: not named there).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Levels([Option<Level>; 7]);

impl Levels {
    pub fn set(&mut self, pack: Pack, level: Level) {
        self.0[pack.index()] = Some(level);
    }

    pub fn get(&self, pack: Pack) -> Option<Level> {
        self.0[pack.index()]
    }

    /// Two layers together: for each pack the stricter of what either names, so
    /// the user's file can raise a pack above the admin's setting, never lower it.
    #[must_use]
    pub fn stricter(&self, other: &Levels) -> Levels {
        let mut out = *self;
        for (mine, theirs) in out.0.iter_mut().zip(other.0) {
            *mine = match (*mine, theirs) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
        out
    }

    pub fn effective(&self, pack: Pack) -> Level {
        self.get(pack).unwrap_or_else(|| pack.default_level())
    }
}

/// What a pack found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub pack: Pack,
    /// The check within the pack, for the rule id `<pack>/<check>`.
    pub check: &'static str,
    /// What the call would do, said to Codex, the model and the user.
    pub message: String,
}

impl Finding {
    fn new(pack: Pack, check: &'static str, message: impl Into<String>) -> Finding {
        Finding {
            pack,
            check,
            message: message.into(),
        }
    }

    pub fn id(&self) -> String {
        format!("{}/{}", self.pack, self.check)
    }
}

/// What the packs look at for one event.
pub struct Subject<'a> {
    pub input: &'a HookInput,
    /// The parse of a shell tool's command.
    pub analysis: Option<&'a Analysis>,
    pub places: &'a PathContext,
}

impl Subject<'_> {
    fn invocations(&self) -> &[Invocation] {
        self.analysis.map_or(&[], |a| a.invocations.as_slice())
    }

    fn home(&self) -> Option<&str> {
        self.places.home.as_deref()
    }

    fn cwd(&self) -> Option<&str> {
        self.input.str("cwd").filter(|c| !c.is_empty())
    }

    /// The files a patch or an MCP tool names, absolute, `~` as the home.
    fn file_paths(&self) -> Vec<String> {
        let home = self.home().map(|h| h.trim_end_matches('/'));
        self.input
            .file_paths()
            .into_iter()
            .map(|p| match (p.strip_prefix('~'), home) {
                (Some(rest), Some(h)) if rest.is_empty() || rest.starts_with('/') => {
                    crate::shell::normalize(&crate::shell::Value(vec![crate::shell::Part::Text(
                        format!("{h}{rest}"),
                    )]))
                    .display()
                }
                _ => p,
            })
            .collect()
    }
}

/// The first finding of a pack that is on: denying packs first, then warning
/// ones. Shell commands that interpreter code runs (`os.system("…")`) are judged
/// as the command itself; a command the parser could not read in full is also
/// judged on its text (`command`) by each pack's fallback patterns.
pub fn evaluate(
    subject: &Subject,
    levels: &Levels,
    command: Option<&str>,
) -> Option<(Finding, Level)> {
    let nested: Vec<Analysis> = match subject.analysis {
        Some(a) if !a.scripts.is_empty() => {
            let ctx = subject.places.shell_context(subject.cwd());
            a.scripts
                .iter()
                .flat_map(code::shell_commands)
                .take(MAX_NESTED)
                .map(|c| crate::shell::analyze(&c, &ctx))
                .collect()
        }
        _ => Vec::new(),
    };
    let unparsed =
        subject.analysis.is_some_and(|a| a.unparsed) || nested.iter().any(|a| a.unparsed);
    let mut subjects = vec![Subject {
        input: subject.input,
        analysis: subject.analysis,
        places: subject.places,
    }];
    subjects.extend(nested.iter().map(|a| Subject {
        input: subject.input,
        analysis: Some(a),
        places: subject.places,
    }));
    for level in [Level::Deny, Level::Warn] {
        for pack in Pack::ALL {
            if levels.effective(pack) != level {
                continue;
            }
            for s in &subjects {
                if let Some(finding) = check(pack, s) {
                    return Some((finding, level));
                }
            }
            if unparsed {
                if let Some(finding) = command.and_then(|c| fallback::check(pack, c)) {
                    return Some((finding, level));
                }
            }
        }
    }
    None
}

/// Most shell commands taken from one call's interpreter code.
const MAX_NESTED: usize = 16;

fn check(pack: Pack, s: &Subject) -> Option<Finding> {
    match pack {
        Pack::Filesystem => filesystem::check(s),
        Pack::Download => download::check(s),
        Pack::Credentials => credentials::check(s),
        Pack::GitHistory => git::history(s),
        Pack::Disks => disks::check(s),
        Pack::GuardTamper => tamper::check(s),
        Pack::GitWorkLoss => git::work_loss(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_can_raise_a_pack_but_never_lower_the_other_layers_setting() {
        let mut admin = Levels::default();
        admin.set(Pack::Filesystem, Level::Deny);
        admin.set(Pack::GitWorkLoss, Level::Off);
        let mut user = Levels::default();
        user.set(Pack::Filesystem, Level::Off);
        user.set(Pack::GitWorkLoss, Level::Deny);
        user.set(Pack::Download, Level::Warn);
        let both = admin.stricter(&user);
        assert_eq!(both.effective(Pack::Filesystem), Level::Deny);
        assert_eq!(both.effective(Pack::GitWorkLoss), Level::Deny);
        assert_eq!(both.effective(Pack::Download), Level::Warn);
        assert_eq!(both.effective(Pack::Disks), Level::Deny);
        assert_eq!(Levels::default().effective(Pack::GitWorkLoss), Level::Warn);
    }
}
