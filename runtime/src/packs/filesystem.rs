//! Filesystem destruction: a recursive delete, or a recursive change of owner or
//! permissions, of `/`, a system directory, a home, everything in one of those,
//! or of a target that cannot be known before the command runs.

use super::opts::{self, Spec};
use super::paths::{self, Target};
use super::{code, Finding, Pack, Subject};
use crate::shell::{Invocation, Value};

pub(super) const RM: Spec = Spec {
    short_valued: "",
    long: &[
        ("recursive", false),
        ("force", false),
        ("dir", false),
        ("interactive", false),
        ("one-file-system", false),
        ("no-preserve-root", false),
        ("preserve-root", false),
        ("verbose", false),
        ("help", false),
        ("version", false),
    ],
    stop_at_operand: false,
};

const CHMOD: Spec = Spec {
    short_valued: "",
    long: &[
        ("recursive", false),
        ("changes", false),
        ("silent", false),
        ("quiet", false),
        ("verbose", false),
        ("reference", true),
        ("preserve-root", false),
        ("no-preserve-root", false),
        ("from", true),
        ("dereference", false),
        ("no-dereference", false),
        ("help", false),
        ("version", false),
    ],
    stop_at_operand: false,
};

const RSYNC: Spec = Spec {
    short_valued: "efBMT",
    long: &[
        ("delete", false),
        ("delete-before", false),
        ("delete-during", false),
        ("delete-delay", false),
        ("delete-after", false),
        ("delete-excluded", false),
        ("remove-source-files", false),
        ("rsh", true),
        ("exclude", true),
        ("include", true),
        ("filter", true),
        ("exclude-from", true),
        ("include-from", true),
        ("files-from", true),
        ("backup-dir", true),
        ("suffix", true),
        ("chown", true),
        ("chmod", true),
        ("log-file", true),
        ("password-file", true),
    ],
    stop_at_operand: false,
};

pub fn check(s: &Subject) -> Option<Finding> {
    let home = s.home();
    for inv in s.invocations() {
        if let Some(f) = invocation(inv, home) {
            return Some(f);
        }
    }
    for script in s.analysis.map_or(&[][..], |a| a.scripts.as_slice()) {
        for tree in code::deleted_trees(script, home, s.cwd()) {
            if let Some(f) = judge(&tree, home, &format!("{} code deletes", script.interpreter)) {
                return Some(f);
            }
        }
    }
    mcp(s)
}

fn invocation(inv: &Invocation, home: Option<&str>) -> Option<Finding> {
    let Some(name) = inv.name.as_deref() else {
        return unknown_program(inv, home);
    };
    match name {
        "rm" | "srm" | "grm" => rm(inv, name, home),
        "chmod" | "chown" | "chgrp" => chmod(inv, name, home),
        "rsync" => rsync(inv, home),
        "find" => find_delete(inv, home),
        "mv" => mv(inv, home),
        _ => None,
    }
}

/// The first finding `judge` makes of a target that one of `words` may stand for.
fn first_target<'a>(
    inv: &Invocation,
    words: impl IntoIterator<Item = &'a Vec<Value>>,
    mut judge: impl FnMut(&Value) -> Option<Finding>,
) -> Option<Finding> {
    words
        .into_iter()
        .flatten()
        .flat_map(|v| resolve(inv, v))
        .find_map(|t| judge(&t))
}

/// `$X -rf /`: any program; a recursive-looking flag and a critical target.
fn unknown_program(inv: &Invocation, home: Option<&str>) -> Option<Finding> {
    let p = opts::parse(&inv.argv[1..], &RM);
    let recursive = p
        .options
        .iter()
        .any(|(o, _)| o == "-r" || o == "-R" || o.starts_with("--rec"));
    if !recursive {
        return None;
    }
    first_target(inv, &p.operands, |t| {
        match paths::target(t, home) {
        Target::Critical(what) => Some(Finding::new(
            Pack::Filesystem,
            "recursive-delete",
            format!(
                "a program that cannot be known before the command runs, with a recursive flag, on {what}"
            ),
        )),
        _ => None,
    }
    })
}

fn rm(inv: &Invocation, name: &str, home: Option<&str>) -> Option<Finding> {
    let p = opts::parse(&inv.argv[1..], &RM);
    let recursive = p.has(&["-r", "-R", "--recursive"]);
    if !recursive && !p.unknown {
        return None;
    }
    let verb = if recursive {
        "recursive delete of"
    } else {
        "delete with options that cannot be known of"
    };
    let verb = format!("{name}: {verb}");
    first_target(inv, &p.operands, |t| {
        // `find ~ -name '*.log' -exec rm {} +`: not everything under ~.
        if inv.from_filtered_find && t.literal().is_none() {
            return None;
        }
        judge(t, home, &verb)
    })
}

fn chmod(inv: &Invocation, name: &str, home: Option<&str>) -> Option<Finding> {
    let p = opts::parse(&inv.argv[1..], &CHMOD);
    if !p.has(&["-R", "--recursive"]) {
        return None;
    }
    // The mode or owner comes first, unless taken from a reference file.
    let skip = usize::from(!p.has(&["--reference"]));
    let verb = format!("recursive {name} of");
    first_target(inv, p.operands.iter().skip(skip), |t| {
        judge_with(t, home, &verb, "recursive-chmod")
    })
}

fn rsync(inv: &Invocation, home: Option<&str>) -> Option<Finding> {
    let p = opts::parse(&inv.argv[1..], &RSYNC);
    let deletes = p.options.iter().any(|(o, _)| o.starts_with("--delete"));
    if !deletes {
        return None;
    }
    let dest = p.operands.last()?;
    first_target(inv, [dest], |t| judge(t, home, "rsync --delete into"))
}

/// `find ROOT... -delete`, unless a test limits what it deletes.
fn find_delete(inv: &Invocation, home: Option<&str>) -> Option<Finding> {
    let lits = inv.literals();
    if !lits.iter().any(|l| l.as_deref() == Some("-delete"))
        || crate::shell::find_is_filtered(&lits)
    {
        return None;
    }
    // The roots: the words before the first test or option.
    let roots = inv.argv[1..]
        .iter()
        .zip(&lits)
        .take_while(|(_, l)| {
            !l.as_deref()
                .is_some_and(|l| l.starts_with('-') || l == "(" || l == "!")
        })
        .map(|(root, _)| root);
    first_target(inv, roots, |t| judge(t, home, "find -delete of"))
}

/// Moving a home or the root away, or anything into /dev/null.
fn mv(inv: &Invocation, home: Option<&str>) -> Option<Finding> {
    let p = opts::parse(&inv.argv[1..], &RM);
    let (dest, sources) = p.operands.split_last()?;
    let into_null = dest
        .iter()
        .any(|v| v.literal().as_deref() == Some("/dev/null"));
    let verb = if into_null {
        "mv into /dev/null of"
    } else {
        "mv away of"
    };
    first_target(inv, sources, |t| match paths::target(t, home) {
        Target::Critical(what) => Some(Finding::new(
            Pack::Filesystem,
            "recursive-delete",
            format!("{verb} {what}"),
        )),
        _ => None,
    })
}

fn resolve(inv: &Invocation, v: &Value) -> Vec<Value> {
    crate::shell::resolve_in(v, &inv.cwds)
}

fn judge(target: &Value, home: Option<&str>, verb: &str) -> Option<Finding> {
    judge_with(target, home, verb, "recursive-delete")
}

fn judge_with(
    target: &Value,
    home: Option<&str>,
    verb: &str,
    check: &'static str,
) -> Option<Finding> {
    match paths::target(target, home) {
        Target::Critical(what) => Some(Finding::new(
            Pack::Filesystem,
            check,
            format!("{verb} {what}"),
        )),
        Target::Unknown(shown) => Some(Finding::new(
            Pack::Filesystem,
            check,
            format!(
                "{verb} `{shown}`, where `*` cannot be known before the command runs and may make it / or a home"
            ),
        )),
        Target::Fine => None,
    }
}

/// MCP tools whose names say they delete or move, on a critical path.
fn mcp(s: &Subject) -> Option<Finding> {
    if !s.input.is_mcp_tool() {
        return None;
    }
    let tool = s.input.tool_name().unwrap_or_default().to_ascii_lowercase();
    let leaf = tool.rsplit("__").next().unwrap_or(&tool);
    let destructive = [
        "delete", "remove", "rm", "move", "rename", "trash", "purge", "wipe",
    ]
    .iter()
    .any(|v| leaf.split(['_', '-']).any(|w| w == *v));
    if !destructive {
        return None;
    }
    for path in s.file_paths() {
        if let Target::Critical(what) =
            paths::target(&Value(vec![crate::shell::Part::Text(path)]), s.home())
        {
            return Some(Finding::new(
                Pack::Filesystem,
                "recursive-delete",
                format!("{} on {what}", s.input.tool_name().unwrap_or("the tool")),
            ));
        }
    }
    None
}
