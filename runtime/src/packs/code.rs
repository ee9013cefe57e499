//! Code handed to an interpreter (`python -c`, `perl -e`, `ruby -e`, `node -e`, a
//! heredoc into one): the packs look for the calls that do each pack's harm, the
//! paths and commands in its string literals, and the shell commands it runs.

use super::paths;
use crate::shell::{Part, Script, Value};
use regex_lite::Regex;

/// The string literals of the code, unescaped as far as the common languages agree.
pub fn literals(code: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = code.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        // Perl's `q{…}`, `qq(…)`, `qw[…]`: a string with brackets for quotes.
        let word_start = i == 0 || !chars[i - 1].1.is_alphanumeric() && chars[i - 1].1 != '_';
        if c == 'q' && word_start {
            let mut j = i + 1;
            if j < chars.len() && matches!(chars[j].1, 'q' | 'w' | 'x') {
                j += 1;
            }
            if let Some(&(_, open)) = chars.get(j) {
                let close = match open {
                    '{' => Some('}'),
                    '(' => Some(')'),
                    '[' => Some(']'),
                    '<' => Some('>'),
                    '|' | '!' | '/' | '#' => Some(open),
                    _ => None,
                };
                if let Some(close) = close {
                    let body: String = chars[j + 1..]
                        .iter()
                        .map(|(_, c)| *c)
                        .take_while(|c| *c != close)
                        .collect();
                    i = j + 1 + body.chars().count() + 1;
                    out.push((at, body));
                    continue;
                }
            }
        }
        if matches!(c, '\'' | '"' | '`') {
            let quote = c;
            let mut text = String::new();
            i += 1;
            while i < chars.len() && chars[i].1 != quote {
                if chars[i].1 == '\\' && i + 1 < chars.len() {
                    i += 1;
                    text.push(match chars[i].1 {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    });
                } else {
                    text.push(chars[i].1);
                }
                i += 1;
            }
            out.push((at, text));
        }
        i += 1;
    }
    out
}

/// Each pattern compiled once per process, the first time code needs it (a hook
/// may judge several scripts, and nested commands, in one event).
fn regex(pattern: &'static str) -> Option<&'static Regex> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static COMPILED: OnceLock<Mutex<HashMap<&'static str, Option<&'static Regex>>>> =
        OnceLock::new();
    let mut compiled = COMPILED.get_or_init(Default::default).lock().ok()?;
    *compiled
        .entry(pattern)
        .or_insert_with(|| Regex::new(pattern).ok().map(|re| &*Box::leak(Box::new(re))))
}

/// The calls that run a shell command, in the languages the analysis knows.
const RUNS_COMMANDS: &str = r"(?x)
    \b(os\.system|os\.popen|subprocess\.[a-z_]+|commands\.getoutput|pty\.spawn
      |system|exec|spawn|spawnSync|execSync|execFileSync|execFile|exec_command
      |Open3\.[a-z0-9_]+|IO\.popen|Kernel\.system|shell_exec|passthru|proc_open|popen
      |qx|Runtime\.getRuntime\(\)\.exec)
    \s*\(?";

/// Shell commands the code runs: the string (or the list of strings) given to
/// `os.system`, `subprocess.run`, `system`, `execSync`, backticks, `qx{}`, `%x()`.
pub fn shell_commands(script: &Script) -> Vec<String> {
    let mut out = Vec::new();
    let code = &script.text;
    if let Some(re) = regex(RUNS_COMMANDS) {
        for m in re.find_iter(code) {
            let rest = &code[m.end()..];
            let args = balanced(rest);
            let strings: Vec<String> = literals(args).into_iter().map(|(_, s)| s).collect();
            if strings.is_empty() {
                continue;
            }
            // A part that is not a literal (`"rm -rf " + p`) is not known: it
            // stands as an unset variable, which the packs treat as possibly anything.
            let word_chars = |t: &str| {
                t.chars()
                    .filter(|c| c.is_alphanumeric() || *c == '_')
                    .count()
            };
            let in_literals: usize = literals(args).iter().map(|(_, s)| word_chars(s)).sum();
            let unknown = args.contains('+') && word_chars(args) > in_literals;
            if args.trim_start().starts_with('[') {
                // `subprocess.run(["rm", "-rf", "/"])`: an argv.
                out.push(
                    strings
                        .iter()
                        .map(|s| quote(s))
                        .collect::<Vec<_>>()
                        .join(" "),
                );
            } else if unknown {
                out.push(format!("{}\"$CODEX_GUARD_UNKNOWN\"", strings.join("")));
            } else {
                out.push(strings.join(""));
            }
        }
    }
    // Backticks run a command in Ruby and Perl (in JavaScript they are templates).
    if matches!(script.interpreter.as_str(), "ruby" | "perl" | "php") {
        for (at, s) in literals(code) {
            if code[at..].starts_with('`') {
                out.push(s);
            }
        }
        if let Some(re) = regex(r"(qx|%x)\s*[\(\{\[\|/!]") {
            for m in re.find_iter(code) {
                let open = code[..m.end()].chars().last().unwrap_or('(');
                let close = match open {
                    '(' => ')',
                    '{' => '}',
                    '[' => ']',
                    c => c,
                };
                let body = &code[m.end()..];
                out.push(body.split(close).next().unwrap_or(body).to_string());
            }
        }
    }
    out
}

fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,~".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The text up to the bracket that closes the one the call opened (or the end of
/// the statement when it opened none).
fn balanced(text: &str) -> &str {
    let mut depth = 1i32;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' | '`' => quote = Some(c),
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    return &text[..i];
                }
            }
            ';' | '\n' if depth == 1 => return &text[..i],
            _ => {}
        }
    }
    text
}

/// Expressions that stand for the home directory.
const HOME_EXPR: &str = r#"(?x)
    expanduser\(\s*['"]~['"]?\s*\) | Path\.home\(\) | homedir\(\) | Dir\.home
  | ENV\[\s*['"]HOME['"]\s*\] | \$ENV\{\s*['"]?HOME['"]?\s*\} | environ\[\s*['"]HOME['"]\s*\]
  | environ\.get\(\s*['"]HOME['"] | getenv\(\s*['"]HOME['"] | process\.env\.HOME | \$HOME | \$env:USERPROFILE | \$HOME\b
  | expand_path\(\s*['"]~['"]\s*\) | File\.expand_path\(\s*['"]~['"]"#;

/// Calls that delete a directory tree, per language.
const DELETES_TREES: &str = r"(?x)
    \b(shutil\.rmtree|rmtree|rm_rf|rm_r|remove_dir|remove_entry_secure|remove_entry|remove_tree
      |rmSync|rmdirSync|rimraf|fs\.rm|fs\.promises\.rm|fsPromises\.rm|fs\.rmdir|Remove-Item|deleteRecursively
      |FileUtils\.rm|FileUtils\.remove|fs-extra|removeSync|emptyDirSync)\b
    \s*\(?";

/// Trees a call in the code deletes: its literal paths resolved, a home
/// expression as the home, anything else as unknown.
pub fn deleted_trees(script: &Script, home: Option<&str>, cwd: Option<&str>) -> Vec<Value> {
    let code = &script.text;
    let mut out = Vec::new();
    let (Some(deletes), Some(home_expr)) = (regex(DELETES_TREES), regex(HOME_EXPR)) else {
        return out;
    };
    for m in deletes.find_iter(code) {
        let args = balanced(&code[m.end()..]);
        let first_arg = args.split(',').next().unwrap_or(args);
        let strings = literals(first_arg);
        if let Some(found) = home_expr.find(first_arg) {
            let mut v = Value(vec![Part::Text(home.unwrap_or("~").to_string())]);
            // Only what is joined after the home expression is below it.
            let rest: String = literals(&first_arg[found.end()..])
                .iter()
                .map(|(_, s)| s.trim_matches('/'))
                .filter(|s| !s.is_empty() && *s != "~")
                .collect::<Vec<_>>()
                .join("/");
            if !rest.is_empty() {
                v = Value(vec![Part::Text(format!("{}/{rest}", home.unwrap_or("~")))]);
            }
            out.push(crate::shell::normalize(&v));
        } else if let Some((_, s)) = strings.first() {
            out.push(absolute(s, home, cwd));
        } else {
            out.push(Value(vec![Part::Any]));
        }
    }
    out
}

fn absolute(s: &str, home: Option<&str>, cwd: Option<&str>) -> Value {
    let text = if s == "~" {
        home.unwrap_or("~").to_string()
    } else if let Some(rest) = s.strip_prefix("~/") {
        format!("{}/{rest}", home.unwrap_or("~"))
    } else if s.starts_with('/') {
        s.to_string()
    } else {
        match cwd {
            Some(c) => format!("{c}/{s}"),
            None => return Value(vec![Part::Any, Part::Text(format!("/{s}"))]),
        }
    };
    let mut v = Value::default();
    // A glob in the literal (`glob.glob('/home/*')`) stands for anything.
    for (i, piece) in text.split('*').enumerate() {
        if i > 0 {
            v.0.push(Part::Any);
        }
        if !piece.is_empty() {
            v.0.push(Part::Text(piece.to_string()));
        }
    }
    crate::shell::normalize(&v)
}

/// A secret file the code names: a literal path, a home expression joined with
/// literal parts (`os.path.join(Path.home(), '.ssh', 'id_rsa')`), or a fragment
/// such as `.aws/credentials` next to a home expression.
pub fn secret(script: &Script, home: Option<&str>) -> Option<String> {
    let code = &script.text;
    let strings: Vec<String> = literals(code).into_iter().map(|(_, s)| s).collect();
    for s in &strings {
        if s.starts_with('/') || s.starts_with("~/") {
            if let Some(what) = paths::secret_value(&absolute(s, home, None), home) {
                return Some(what);
            }
        }
    }
    let names_home = regex(HOME_EXPR).is_some_and(|re| re.is_match(code));
    if names_home {
        let h = home.unwrap_or("/home/~");
        // Joined from parts, or written as one relative fragment.
        for start in 0..strings.len() {
            let mut joined = String::new();
            for part in &strings[start..(start + 4).min(strings.len())] {
                joined.push('/');
                joined.push_str(part.trim_matches('/'));
                let candidate = format!("{h}{joined}");
                if let Some(what) = paths::secret(&candidate, Some(h)) {
                    return Some(what);
                }
            }
        }
    }
    None
}

/// Fetching code over the network, and running it.
const FETCHES: &str = r"(?xi)
    urlopen|urllib|requests\.(get|post)|httpx|http\.get|https\.get|\bfetch\(|net::http|open-uri|uri\.open
  | lwp::|http::tiny|getstore|get\(\s*['\x22]https?:|invoke-webrequest|\biwr\b|invoke-restmethod|\birm\b
  | downloadstring|webclient|\bcurl\b|\bwget\b|socket\.create_connection|axios";
const RUNS_CODE: &str = r"(?x)
    \bexec\s*\(|\beval\b|\bFunction\s*\(|instance_eval|class_eval|runInThisContext|runInNewContext
  | Invoke-Expression|\biex\b|\bcompile\s*\(|\bsystem\s*\(|\|\s*(ba|z|da)?sh\b|load\s*\(";

pub fn fetches_and_runs(script: &Script) -> bool {
    let code = &script.text;
    regex(FETCHES).is_some_and(|re| re.is_match(code))
        && regex(RUNS_CODE).is_some_and(|re| re.is_match(code))
}

/// A disk device the code names.
pub fn device(script: &Script) -> Option<String> {
    literals(&script.text)
        .into_iter()
        .map(|(_, s)| s)
        .find(|s| paths::block_device(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn py(code: &str) -> Script {
        Script {
            interpreter: "python".into(),
            text: code.into(),
        }
    }

    #[test]
    fn commands_run_by_the_code_are_found_in_string_and_list_form() {
        assert_eq!(
            shell_commands(&py("import os; os.system('rm -rf /')")),
            ["rm -rf /"]
        );
        assert_eq!(
            shell_commands(&py(
                "import subprocess; subprocess.run(['rm', '-rf', '/home/x'])"
            )),
            ["rm -rf /home/x"]
        );
        let rb = Script {
            interpreter: "ruby".into(),
            text: "puts `cat ~/.ssh/id_rsa`".into(),
        };
        assert_eq!(shell_commands(&rb), ["cat ~/.ssh/id_rsa"]);
    }

    #[test]
    fn deleted_trees_resolve_literals_and_home_expressions() {
        let home = Some("/home/dev");
        let t = deleted_trees(
            &py("import shutil,os; shutil.rmtree(os.path.expanduser('~'))"),
            home,
            None,
        );
        assert_eq!(t[0].literal().as_deref(), Some("/home/dev"));
        let t = deleted_trees(
            &py("import shutil; shutil.rmtree('build')"),
            home,
            Some("/w"),
        );
        assert_eq!(t[0].literal().as_deref(), Some("/w/build"));
        assert!(secret(&py("import os; print(open(os.path.join(os.path.expanduser('~'), '.aws', 'credentials')).read())"), home).is_some());
        assert!(secret(&py("print(open('/home/dev/.ssh/id_rsa').read())"), home).is_some());
        assert!(secret(&py("print(open('/home/dev/.ssh/id_rsa.pub').read())"), home).is_none());
    }
}
