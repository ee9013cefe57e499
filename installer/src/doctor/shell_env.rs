//! `BASH_ENV` and `ENV`: Codex starts every hook with `bash -c` in its own environment,
//! and bash first runs the file `$BASH_ENV` names. A file that exits there stops every
//! hook before it starts, and Codex counts each one as completed: nothing is guarded.
//! The variable comes from Codex's environment, which the user's shell startup files
//! shape, so doctor looks at both and names the file and line that sets it.

use super::{Check, CheckId};
use codex_guard_hook::settings::EnvLookup;
use std::path::{Path, PathBuf};

const ID: CheckId = CheckId::ShellStartupEnv;
/// The variables that make a shell run a file first (`ENV`: sh and bash in POSIX mode).
const VARIABLES: [&str; 2] = ["BASH_ENV", "ENV"];
/// Larger files are not startup files anyone writes by hand; they are skipped.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// How a startup file sets variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Syntax {
    /// sh, bash, zsh, and `/etc/environment` (`NAME=value` lines).
    Posix,
    /// fish: `set -gx NAME value`.
    Fish,
}

/// One place that sets one of [`VARIABLES`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct Found {
    path: PathBuf,
    line: usize,
    name: &'static str,
    value: Option<String>,
}

/// The check: the variables in doctor's own environment (inherited by a Codex started
/// from the same shell), then every startup file of the user and of the machine.
pub fn check(env: EnvLookup<'_>, system_root: &Path) -> Check {
    let mut problems: Vec<String> = VARIABLES
        .iter()
        .filter_map(|name| {
            env(name)
                .filter(|v| !v.is_empty())
                .map(|v| format!("{name}={v} is set in this environment"))
        })
        .collect();
    let files = startup_files(env, system_root);
    let mut found = Vec::new();
    for (path, syntax) in &files {
        found.extend(scan_file(path, *syntax));
    }
    problems.extend(found.iter().map(|f| {
        format!(
            "{}:{} sets {}{}",
            f.path.display(),
            f.line,
            f.name,
            f.value
                .as_deref()
                .map(|v| format!("={v}"))
                .unwrap_or_default()
        )
    }));
    if problems.is_empty() {
        let read = files.iter().filter(|(p, _)| p.is_file()).count();
        return Check::pass(
            ID,
            if read == 0 {
                "BASH_ENV and ENV are not set here (no shell startup file found to read)"
                    .to_string()
            } else {
                format!(
                    "BASH_ENV and ENV are not set here, nor by any of the {read} shell startup file(s) found"
                )
            },
        );
    }
    Check::warn(
        ID,
        format!(
            "{}: bash runs that file before every hook Codex starts (`bash -c`), and a file \
             that exits stops every hook unseen",
            problems.join("; ")
        ),
    )
    .fix(
        "remove the line (and `unset BASH_ENV ENV`) unless you set it on purpose, and read the file it names",
    )
}

/// The files a login or interactive shell reads before it starts Codex, with their syntax.
fn startup_files(env: EnvLookup<'_>, system_root: &Path) -> Vec<(PathBuf, Syntax)> {
    let mut files = Vec::new();
    let var = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(home) = var("HOME") {
        for name in [".profile", ".bash_profile", ".bash_login", ".bashrc"] {
            files.push((home.join(name), Syntax::Posix));
        }
        let mut zsh_dirs = vec![home.clone()];
        if let Some(zdotdir) = var("ZDOTDIR").filter(|d| *d != home) {
            zsh_dirs.push(zdotdir);
        }
        for dir in zsh_dirs {
            for name in [".zshenv", ".zprofile", ".zshrc", ".zlogin"] {
                files.push((dir.join(name), Syntax::Posix));
            }
        }
        let config = var("XDG_CONFIG_HOME").unwrap_or_else(|| home.join(".config"));
        fish_files(&config.join("fish"), &mut files);
    }
    let etc = system_root.join("etc");
    files.push((etc.join("environment"), Syntax::Posix));
    files.push((etc.join("profile"), Syntax::Posix));
    files.extend(
        dir_files(&etc.join("profile.d"), None)
            .into_iter()
            .map(|p| (p, Syntax::Posix)),
    );
    for name in [
        "bash.bashrc",
        "bashrc",
        "zsh/zshenv",
        "zshenv",
        "zsh/zprofile",
    ] {
        files.push((etc.join(name), Syntax::Posix));
    }
    fish_files(&etc.join("fish"), &mut files);
    files
}

fn fish_files(dir: &Path, files: &mut Vec<(PathBuf, Syntax)>) {
    files.push((dir.join("config.fish"), Syntax::Fish));
    files.extend(
        dir_files(&dir.join("conf.d"), Some(".fish"))
            .into_iter()
            .map(|p| (p, Syntax::Fish)),
    );
}

/// The files in `dir` (ending in `suffix`), sorted as the shells source them.
fn dir_files(dir: &Path, suffix: Option<&str>) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            suffix.is_none_or(|s| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().ends_with(s))
            })
        })
        .collect();
    files.sort();
    files
}

fn scan_file(path: &Path, syntax: Syntax) -> Vec<Found> {
    let readable = std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() <= MAX_FILE_BYTES);
    let Some(text) = readable
        .then(|| std::fs::read(path).ok())
        .flatten()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
    else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        for (name, value) in scan_line(line, syntax) {
            found.push(Found {
                path: path.to_path_buf(),
                line: n + 1,
                name,
                value,
            });
        }
    }
    found
}

/// The variables of [`VARIABLES`] one line sets, with the value when it is on the line.
fn scan_line(line: &str, syntax: Syntax) -> Vec<(&'static str, Option<String>)> {
    let line = line.trim();
    if line.starts_with('#') {
        return Vec::new();
    }
    let mut found = Vec::new();
    for command in line.split([';', '&', '|', '(', ')', '{', '}']) {
        let mut words = command.split_whitespace().peekable();
        // Words that may open a command in a startup file without being one.
        while words
            .peek()
            .is_some_and(|w| ["then", "do", "else", "!"].contains(w))
        {
            words.next();
        }
        let words: Vec<&str> = words.collect();
        let Some(first) = words.first() else {
            continue;
        };
        let flags = || words[1..].iter().take_while(|w| w.starts_with('-'));
        let exported_flag =
            |w: &&&str| **w == "--export" || (!w.starts_with("--") && w[1..].contains('x'));
        match *first {
            "export" => found.extend(words[1..].iter().filter_map(|w| assignment(w, true))),
            "declare" | "typeset" if flags().any(|w| exported_flag(&w)) => found.extend(
                words[1..]
                    .iter()
                    .filter(|w| !w.starts_with('-'))
                    .filter_map(|w| assignment(w, true)),
            ),
            "set" if syntax == Syntax::Fish && flags().any(|w| exported_flag(&w)) => {
                let mut rest = words[1..].iter().skip_while(|w| w.starts_with('-'));
                if let Some(name) = rest.next().and_then(|w| known(w)) {
                    let value = rest.copied().collect::<Vec<_>>().join(" ");
                    found.push((name, Some(unquote(&value)).filter(|v| !v.is_empty())));
                }
            }
            "env" | "setenv" => {}
            _ if syntax == Syntax::Posix => {
                // `NAME=value` (and the assignments before a command).
                found.extend(
                    words
                        .iter()
                        .take_while(|w| w.contains('='))
                        .filter_map(|w| assignment(w, false)),
                );
            }
            _ => {}
        }
    }
    found
}

/// `NAME=value` (or, when `bare` is allowed, `NAME`) for one of [`VARIABLES`].
fn assignment(word: &str, bare: bool) -> Option<(&'static str, Option<String>)> {
    match word.split_once('=') {
        Some((name, value)) => known(name).map(|n| (n, Some(unquote(value)))),
        None if bare => known(word).map(|n| (n, None)),
        None => None,
    }
}

fn known(name: &str) -> Option<&'static str> {
    VARIABLES.into_iter().find(|v| *v == name)
}

fn unquote(value: &str) -> String {
    value.trim_matches(|c| c == '"' || c == '\'').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(line: &str, syntax: Syntax) -> Vec<(&'static str, Option<String>)> {
        scan_line(line, syntax)
    }

    fn set(name: &'static str, value: &str) -> (&'static str, Option<String>) {
        (name, Some(value.to_string()))
    }

    #[test]
    fn posix_lines_that_set_the_variables() {
        use Syntax::Posix;
        assert_eq!(
            names("export BASH_ENV=~/.x", Posix),
            [set("BASH_ENV", "~/.x")]
        );
        assert_eq!(
            names("  export ENV=\"$HOME/.shrc\"", Posix),
            [set("ENV", "$HOME/.shrc")]
        );
        assert_eq!(
            names("BASH_ENV=/tmp/a; export BASH_ENV", Posix),
            [set("BASH_ENV", "/tmp/a"), ("BASH_ENV", None)]
        );
        assert_eq!(
            names("declare -x BASH_ENV=/b", Posix),
            [set("BASH_ENV", "/b")]
        );
        assert_eq!(
            names("[ -n \"$X\" ] && export PATH=/x BASH_ENV=/c", Posix),
            [set("BASH_ENV", "/c")]
        );
        assert_eq!(
            names("if true; then export ENV=/d; fi", Posix),
            [set("ENV", "/d")]
        );
    }

    #[test]
    fn posix_lines_that_do_not() {
        use Syntax::Posix;
        for line in [
            "# export BASH_ENV=/x",
            "export MY_BASH_ENV=/x",
            "export ENVIRONMENT=prod",
            "echo BASH_ENV=/x",
            "declare BASH_ENV=/x",
            "unset BASH_ENV",
        ] {
            assert_eq!(names(line, Posix), [], "{line}");
        }
    }

    #[test]
    fn fish_exports() {
        use Syntax::Fish;
        assert_eq!(
            names("set -gx BASH_ENV ~/.x", Fish),
            [set("BASH_ENV", "~/.x")]
        );
        assert_eq!(names("set --export ENV /e", Fish), [set("ENV", "/e")]);
        assert_eq!(
            names("set -Ux BASH_ENV '/f'", Fish),
            [set("BASH_ENV", "/f")]
        );
        assert_eq!(names("export BASH_ENV=/g", Fish), [set("BASH_ENV", "/g")]);
        assert_eq!(names("set -g BASH_ENV /h", Fish), []);
        assert_eq!(names("set -e BASH_ENV", Fish), []);
        assert_eq!(names("BASH_ENV=/i some-command", Fish), []);
    }
}
