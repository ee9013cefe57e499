//! Git: pushes that rewrite or delete a shared branch (git-history), and commands
//! that throw away uncommitted or unreachable work (git-work-loss). Options are
//! read as git reads them: combined short flags, unique abbreviations of long
//! ones, options after operands, aliases defined on the command line.

use super::opts::{self, Parsed, Spec};
use super::{Finding, Pack, Subject};
use crate::shell::{Invocation, Value};

/// Branches whose history others build on.
fn protected(branch: &str) -> bool {
    let b = branch.strip_prefix("refs/heads/").unwrap_or(branch);
    matches!(
        b,
        "main"
            | "master"
            | "trunk"
            | "develop"
            | "development"
            | "prod"
            | "production"
            | "stable"
            | "live"
            | "default"
            | "gh-pages"
    ) || b.starts_with("release")
        || b.starts_with("hotfix/")
}

const PUSH: Spec = Spec {
    short_valued: "o",
    long: &[
        ("force", false),
        ("force-with-lease", false),
        ("force-if-includes", false),
        ("no-force-with-lease", false),
        ("delete", false),
        ("mirror", false),
        ("all", false),
        ("branches", false),
        ("tags", false),
        ("prune", false),
        ("set-upstream", false),
        ("dry-run", false),
        ("porcelain", false),
        ("atomic", false),
        ("no-atomic", false),
        ("repo", true),
        ("receive-pack", true),
        ("exec", true),
        ("push-option", true),
        ("signed", false),
        ("no-signed", false),
        ("no-verify", false),
        ("verify", false),
        ("follow-tags", false),
        ("no-follow-tags", false),
        ("thin", false),
        ("no-thin", false),
        ("quiet", false),
        ("verbose", false),
        ("progress", false),
        ("no-progress", false),
        ("recurse-submodules", false),
        ("no-recurse-submodules", false),
        ("ipv4", false),
        ("ipv6", false),
    ],
    stop_at_operand: false,
};

/// One git command: its subcommand (aliases expanded) and the rest.
struct GitCall {
    sub: String,
    args: Vec<Vec<Value>>,
    /// The directories it runs in (`-C` applied; `None`: not known).
    cwds: Vec<Option<String>>,
    /// `--git-dir` or `--work-tree` was given: the repository is not the cwd's.
    other_repo: bool,
}

/// The git commands of the call, aliases defined with `-c alias.x=…` or by
/// `git config alias.x …` earlier in the line expanded.
fn calls(s: &Subject) -> Vec<GitCall> {
    let mut aliases: Vec<(String, String)> = Vec::new();
    let mut out = Vec::new();
    for inv in s.invocations() {
        collect(inv, &mut aliases, &mut out, s, 0);
    }
    out
}

fn collect(
    inv: &Invocation,
    aliases: &mut Vec<(String, String)>,
    out: &mut Vec<GitCall>,
    s: &Subject,
    depth: usize,
) {
    if inv.name.as_deref() != Some("git") || depth > 3 {
        return;
    }
    let args = &inv.argv[1..];
    let lits = inv.literals();
    let mut i = 0;
    let mut local = aliases.clone();
    let mut cwds = inv.cwds.clone();
    let mut other_repo = false;
    while let Some(Some(a)) = lits.get(i) {
        if a == "-c" {
            if let Some(Some(kv)) = lits.get(i + 1) {
                if let Some((k, v)) = kv.split_once('=') {
                    if let Some(name) = k.strip_prefix("alias.") {
                        local.push((name.to_string(), v.to_string()));
                    }
                    // `-c push.default=matching`: what a plain push sends is not the
                    // branch checked out.
                    let k = k.to_ascii_lowercase();
                    if k.starts_with("push.") || k.starts_with("remote.") {
                        other_repo = true;
                    }
                }
            }
            i += 2;
        } else if a == "-C" {
            cwds = match args.get(i + 1) {
                Some(dir) => dir
                    .iter()
                    .flat_map(|d| crate::shell::resolve_in(d, &cwds))
                    .map(|d| d.literal())
                    .collect(),
                None => vec![None],
            };
            i += 2;
        } else if matches!(
            a.as_str(),
            "--git-dir" | "--work-tree" | "--namespace" | "--exec-path" | "--config-env"
        ) {
            other_repo |= a != "--exec-path";
            i += 2;
        } else if a.starts_with("--git-dir=") || a.starts_with("--work-tree=") {
            other_repo = true;
            i += 1;
        } else if a.starts_with('-') {
            i += 1;
        } else {
            break;
        }
    }
    let Some(sub) = lits.get(i).cloned().flatten() else {
        if i < args.len() {
            // `git $CMD …`: not known.
            out.push(GitCall {
                sub: "*".into(),
                args: args[i + 1..].to_vec(),
                cwds,
                other_repo,
            });
        }
        return;
    };
    let rest = args[i + 1..].to_vec();
    // `git config alias.p 'push -f'` defines an alias for the rest of the line.
    if sub == "config" {
        let r: Vec<Option<String>> = lits[i + 1..].to_vec();
        let words: Vec<&String> = r.iter().flatten().filter(|w| !w.starts_with('-')).collect();
        if let [k, v, ..] = words.as_slice() {
            if let Some(name) = k.strip_prefix("alias.") {
                aliases.push((name.to_string(), (*v).clone()));
            }
        }
    }
    if let Some((_, expansion)) = local.iter().rev().find(|(n, _)| *n == sub) {
        let rest_text: Vec<String> = rest
            .iter()
            .map(|w| w.first().map(Value::display).unwrap_or_default())
            .collect();
        let text = match expansion.strip_prefix('!') {
            Some(shell) => format!("{shell} {}", rest_text.join(" ")),
            None => format!("git {expansion} {}", rest_text.join(" ")),
        };
        let ctx = s.places.shell_context(s.cwd());
        let analysis = crate::shell::analyze(&text, &ctx);
        for nested in &analysis.invocations {
            collect(nested, &mut local.clone(), out, s, depth + 1);
        }
        return;
    }
    out.push(GitCall {
        sub,
        args: rest,
        cwds,
        other_repo,
    });
}

pub fn history(s: &Subject) -> Option<Finding> {
    for call in calls(s) {
        if call.sub != "push" && call.sub != "*" {
            continue;
        }
        let p = opts::parse(&call.args, &PUSH);
        if let Some(f) = push(&p, call.sub == "*", &call) {
            return Some(f);
        }
    }
    None
}

fn finding(check: &'static str, message: String) -> Finding {
    Finding::new(Pack::GitHistory, check, message)
}

fn push(p: &Parsed, unknown_sub: bool, call: &GitCall) -> Option<Finding> {
    let force_flag = p.has(&["-f", "--force", "--force-with-lease", "--force-if-includes"]);
    if unknown_sub {
        return (force_flag && p.operands.len() <= 1).then(|| {
            finding(
                "force-push",
                "a git command that cannot be known, with --force".to_string(),
            )
        });
    }
    if p.has(&["--mirror"]) {
        return Some(finding(
            "mirror-push",
            "git push --mirror overwrites and deletes every branch of the remote".into(),
        ));
    }
    let all = p.has(&["--all", "--branches"]);
    if all && (force_flag || p.has(&["--prune"])) {
        return Some(finding(
            "force-push",
            "a forced or pruning push of every branch".into(),
        ));
    }
    let refspecs: Vec<&Vec<Value>> = p.operands.iter().skip(1).collect();
    let delete = p.has(&["-d", "--delete"]);
    if refspecs.is_empty() {
        return (force_flag && !all && !p.has(&["--tags"]))
            .then(|| force_current_branch(call))
            .flatten();
    }
    refspecs
        .into_iter()
        .flatten()
        .find_map(|v| match v.literal() {
            Some(text) => refspec(&text, force_flag, delete),
            None => (force_flag || delete).then(|| {
                finding(
                    "force-push",
                    format!(
                        "a forced push or delete of {}, which cannot be known before it runs",
                        v.display()
                    ),
                )
            }),
        })
}

/// `git push --force` with no refspec: the current branch, read from the
/// repository the push runs in.
fn force_current_branch(call: &GitCall) -> Option<Finding> {
    let branches: Vec<Option<String>> = if call.other_repo {
        vec![None]
    } else {
        call.cwds
            .iter()
            .map(|c| c.as_deref().and_then(current_branch))
            .collect()
    };
    if let Some(b) = branches.iter().flatten().find(|b| protected(b)) {
        return Some(finding(
            "force-push",
            format!("force-pushing {b}, the current branch, rewriting history others build on"),
        ));
    }
    (branches.is_empty() || branches.iter().any(Option::is_none)).then(|| {
        finding(
            "force-push",
            "git push --force with no branch named force-pushes the current branch, which cannot be read (or the repository pushes more than it)".into(),
        )
    })
}

/// One literal refspec (`[+]src[:dst]`, `:dst`) of a push.
fn refspec(text: &str, force_flag: bool, delete: bool) -> Option<Finding> {
    let plus = text.starts_with('+');
    let text = text.trim_start_matches('+');
    let (src, dst) = match text.split_once(':') {
        Some((s, d)) => (s, if d.is_empty() { s } else { d }),
        None => (text, text),
    };
    let deletes = delete || (text.starts_with(':') && !dst.is_empty());
    let dst = text.strip_prefix(':').unwrap_or(dst);
    let branch = if dst == "HEAD" || (src == "HEAD" && !text.contains(':')) {
        ""
    } else {
        dst
    };
    if deletes {
        return (branch.is_empty() || protected(branch) || branch.contains('*')).then(|| {
            finding(
                "delete-branch",
                format!(
                    "deleting the branch {} on the remote",
                    if branch.is_empty() { "HEAD" } else { branch }
                ),
            )
        });
    }
    if !(plus || force_flag) {
        return None;
    }
    if branch.is_empty() {
        return Some(finding(
            "force-push",
            "force-pushing HEAD, the current branch, which cannot be known before it runs".into(),
        ));
    }
    (protected(branch) || branch.contains('*')).then(|| {
        finding(
            "force-push",
            format!("force-pushing {branch}, rewriting history others build on"),
        )
    })
}

/// The branch checked out in the repository that holds `dir`, when a plain push
/// pushes only that branch to the same name: no `push.default` or `remote.*.push`
/// in the repository's or the user's git config that could send more (or
/// elsewhere). `None`: it cannot be told.
fn current_branch(dir: &str) -> Option<String> {
    let mut at = std::path::Path::new(dir);
    let git = loop {
        let candidate = at.join(".git");
        if candidate.exists() {
            break candidate;
        }
        at = at.parent()?;
    };
    let git_dir = if git.is_file() {
        // A worktree or submodule: `gitdir: PATH`.
        let text = std::fs::read_to_string(&git).ok()?;
        let path = text.trim().strip_prefix("gitdir:")?.trim().to_string();
        let path = std::path::PathBuf::from(path);
        if path.is_absolute() {
            path
        } else {
            at.join(path)
        }
    } else {
        git
    };
    let head = std::fs::read_to_string(git_dir.join("HEAD")).ok()?;
    let branch = head.trim().strip_prefix("ref: refs/heads/")?.to_string();
    // Settings that make a bare push send other refs.
    let mut configs = vec![
        git_dir.join("config"),
        std::path::PathBuf::from("/etc/gitconfig"),
    ];
    for var in ["GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "XDG_CONFIG_HOME"] {
        if let Some(v) = std::env::var_os(var) {
            let v = std::path::PathBuf::from(v);
            configs.push(if var == "XDG_CONFIG_HOME" {
                v.join("git/config")
            } else {
                v
            });
        }
    }
    if let Ok(common) = std::fs::read_to_string(git_dir.join("commondir")) {
        configs.push(git_dir.join(common.trim()).join("config"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        let home = std::path::PathBuf::from(home);
        configs.push(home.join(".gitconfig"));
        configs.push(home.join(".config/git/config"));
    }
    for config in configs {
        let Ok(text) = std::fs::read_to_string(&config) else {
            continue;
        };
        let mut section = String::new();
        for line in text.lines() {
            let line = line.trim().to_ascii_lowercase();
            if let Some(rest) = line.strip_prefix('[') {
                section = rest.split([']', ' ', '"']).next().unwrap_or("").to_string();
                if section.starts_with("include") {
                    return None;
                }
                continue;
            }
            let key = line.split('=').next().unwrap_or("").trim();
            let risky = match section.as_str() {
                "push" => key == "default",
                "remote" => key == "push" || key == "mirror",
                _ => false,
            };
            if risky {
                return None;
            }
        }
    }
    Some(branch)
}

pub fn work_loss(s: &Subject) -> Option<Finding> {
    for call in calls(s) {
        let lits = crate::shell::literals(&call.args);
        let words: Vec<&str> = lits.iter().flatten().map(String::as_str).collect();
        let has = |w: &[&str]| words.iter().any(|a| w.contains(a));
        let long = |p: &str| {
            words.iter().any(|a| {
                a.starts_with("--")
                    && a.len() > 4
                    && p.starts_with(a.split('=').next().unwrap_or(a))
            })
        };
        let short = |c: char| {
            words
                .iter()
                .any(|a| a.starts_with('-') && !a.starts_with("--") && a.contains(c))
        };
        let what = match call.sub.as_str() {
            "reset" if long("--hard") || long("--merge") => {
                "git reset --hard discards uncommitted changes"
            }
            "clean" if (short('f') || long("--force")) && !(short('n') || long("--dry-run")) => {
                "git clean --force deletes untracked files"
            }
            "checkout" if (has(&["--", "."]) && !short('b')) || short('f') || long("--force") => {
                "git checkout of paths (or --force) discards uncommitted changes"
            }
            "restore" if (!long("--staged") || long("--worktree")) && !words.is_empty() => {
                "git restore discards uncommitted changes"
            }
            "switch" if short('f') || long("--force") || long("--discard-changes") => {
                "git switch --discard-changes discards uncommitted changes"
            }
            "stash" if has(&["clear", "drop"]) => "git stash clear/drop deletes stashed work",
            "branch"
                if short('D')
                    || (long("--delete") && long("--force"))
                    || (short('d') && short('f')) =>
            {
                "git branch -D deletes a branch that may not be merged"
            }
            "worktree" if has(&["remove"]) && (short('f') || long("--force")) => {
                "git worktree remove --force deletes a worktree with changes"
            }
            "reflog"
                if has(&["delete"])
                    || (has(&["expire"])
                        && words.iter().any(|w| {
                            w.starts_with("--expire")
                                && (w.ends_with("=now") || w.ends_with("=all") || w.ends_with("=0"))
                        })) =>
            {
                "git reflog expire deletes the history of where branches were"
            }
            "gc" if words.iter().any(|w| w.starts_with("--prune")) => {
                "git gc --prune deletes unreachable commits"
            }
            "update-ref" if short('d') => "git update-ref -d deletes a ref",
            "filter-branch" | "filter-repo" => "rewriting the repository's history",
            _ => continue,
        };
        return Some(Finding::new(
            Pack::GitWorkLoss,
            "discard-work",
            what.to_string(),
        ));
    }
    None
}
