//! What a shell command changes on disk, worked out from its syntax tree rather than
//! its spelling: `cd ~/.codex && > hooks.json`, `D=~/.codex; rm -rf $D`,
//! `bash -c '…'`, `find ~ -delete`, `sudo env X=1 mv …`, a quoted `'r''m'` all come
//! down to the same list of paths a program may change.
//!
//! The command is parsed with `brush-parser` (a bash/POSIX parser); words are
//! expanded as far as can be done without running anything: quotes, escapes, `~`,
//! variables set earlier in the line or known from the environment, `cd` earlier in
//! the line. What cannot be known (`$(…)` output, unset variables, globs) becomes a
//! hole that matches anything, so an unknown never reads as harmless. Programs that
//! only read their operands are listed; every other program is taken to change
//! every path it names.

use brush_parser::ast;
use brush_parser::word::{self, Parameter, ParameterExpr, TildeExpr, WordPiece};
use brush_parser::{Parser, ParserOptions};
use std::collections::HashMap;

/// How deep `bash -c`, `eval`, `$(…)` and friends are followed.
const MAX_DEPTH: usize = 8;
/// Deepest bracket nesting handed to the parser, and the longest command: the
/// parser recurses, and a command built to exhaust the stack must not crash the hook
/// (a crashed hook lets the call through). Past these the command is not parsed and
/// only its raw text is looked at.
const MAX_NESTING: usize = 48;
const MAX_PARSED_BYTES: usize = 256 * 1024;
/// Most simple commands looked at in one call, nested ones included: past it the
/// rest is judged on its text, so no command can make the analysis outlast the
/// hook's deadline.
const MAX_COMMANDS: usize = 4096;
/// Most words (whitespace-separated, heredoc text included) handed to the parser,
/// and longest the analysis after it may take: parsing and expanding cost about
/// a microsecond a word, and the hook must decide a command of any size within a
/// few tens of milliseconds. Past either, the rest is judged on its text.
const MAX_WORDS: usize = 4_000;
const ANALYSIS_BUDGET: std::time::Duration = std::time::Duration::from_millis(20);
/// Simple commands looked at before [`ANALYSIS_BUDGET`] applies.
const TIMED_AFTER: usize = 256;

/// Most alternative values one word may stand for before it becomes a hole.
const MAX_ALTERNATIVES: usize = 16;

/// A piece of an expanded word: known text, or a hole that may be anything.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Part {
    Text(String),
    Any,
}

/// A word as far as it can be known before the command runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Value(pub Vec<Part>);

impl Value {
    fn text(s: &str) -> Value {
        Value(vec![Part::Text(s.to_string())])
    }

    fn any() -> Value {
        Value(vec![Part::Any])
    }

    fn push_text(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        match self.0.last_mut() {
            Some(Part::Text(t)) => t.push_str(s),
            _ => self.0.push(Part::Text(s.to_string())),
        }
    }

    fn push_any(&mut self) {
        if self.0.last() != Some(&Part::Any) {
            self.0.push(Part::Any);
        }
    }

    fn extend(&mut self, other: &Value) {
        for part in &other.0 {
            match part {
                Part::Text(t) => self.push_text(t),
                Part::Any => self.push_any(),
            }
        }
    }

    /// The whole text, when nothing in it is unknown.
    pub fn literal(&self) -> Option<String> {
        let mut out = String::new();
        for part in &self.0 {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Any => return None,
            }
        }
        Some(out)
    }

    /// Nothing of it is known.
    pub fn is_unknown(&self) -> bool {
        self.0.iter().all(|p| *p == Part::Any) && !self.0.is_empty()
    }

    /// The text with every hole shown as `*`, for messages.
    pub fn display(&self) -> String {
        self.0
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.as_str(),
                Part::Any => "*",
            })
            .collect()
    }

    fn starts_with_text(&self, prefix: &str) -> bool {
        matches!(self.0.first(), Some(Part::Text(t)) if t.starts_with(prefix))
    }
}

/// A path a command may change.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Change {
    /// Absolute (or starting with a hole when the directory is unknown).
    pub target: Value,
    /// The change reaches what is inside the target too (`rm -r`, `mv`, `chmod -R`,
    /// `find -delete`), so changing a directory that holds a protected file counts.
    pub recursive: bool,
    /// The program that makes the change, for the message.
    pub program: String,
}

/// Everything the analysis found in one command.
#[derive(Debug, Default, Clone)]
pub struct Analysis {
    pub changes: Vec<Change>,
    /// Every path-like word of the command, changed or not.
    pub mentions: Vec<Value>,
    /// Code handed to an interpreter (`python -c`, `perl -e`, a heredoc into
    /// `node`), which may change any file it names.
    pub code: Vec<String>,
    /// Code run from somewhere the analysis cannot see (`curl … | sh`, `eval "$x"`).
    pub unknown_code: bool,
    /// The command could not be parsed (it would not run as written, or uses syntax
    /// the parser lacks): only its raw text can be looked at.
    pub unparsed: bool,
    /// Every program the command runs, wrappers and what they wrap alike, in order.
    pub invocations: Vec<Invocation>,
    /// Code handed to an interpreter, with the interpreter's name.
    pub scripts: Vec<Script>,
    /// Files a download is saved to.
    pub downloads: Vec<Value>,
    /// Code from the network (or decoded from an encoding) that is run, each as a
    /// sentence: `curl output piped into bash`.
    pub fetched_runs: Vec<String>,
    /// Files read through `<` redirects.
    pub redirect_reads: Vec<Value>,
}

/// One program as the command runs it.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The program's base name (lower-cased where file systems ignore case);
    /// `None` when the program word is not known (`$X -rf /`).
    pub name: Option<String>,
    /// Every word, the program first, each as its possible values.
    pub argv: Vec<Vec<Value>>,
    /// The directories it may run in (`None`: not known).
    pub cwds: Vec<Option<String>>,
    /// What its standard input is, when the command line says.
    pub stdin: Option<Stdin>,
    /// Run by `find -exec` on only the files a test (`-name`, `-mtime`, …) picks.
    pub from_filtered_find: bool,
}

impl Invocation {
    /// The arguments after the program, each known only when it has one value
    /// with no hole.
    pub fn literals(&self) -> Vec<Option<String>> {
        literals(&self.argv[1..])
    }
}

/// Each word's text, known only when it has one value with no hole.
pub fn literals(words: &[Vec<Value>]) -> Vec<Option<String>> {
    words
        .iter()
        .map(|a| if a.len() == 1 { a[0].literal() } else { None })
        .collect()
}

/// Code handed to an interpreter.
#[derive(Debug, Clone)]
pub struct Script {
    /// `python`, `perl`, `ruby`, `node`, … (version suffix removed).
    pub interpreter: String,
    pub text: String,
}

/// What the analysis knows before the command runs.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub home: Option<String>,
    /// The session's working directory.
    pub cwd: Option<String>,
    /// Environment variables Codex passes to its shell tool (`HOME`, `CODEX_HOME`, …).
    pub env: HashMap<String, String>,
    /// The account's own name, so `~name` is its home.
    pub user: Option<String>,
}

/// Works out what `command` may change.
pub fn analyze(command: &str, ctx: &Context) -> Analysis {
    // An unquoted `$IFS` splits words: `rm${IFS}-rf${IFS}/` is `rm -rf /`.
    let ifs = regex_lite::Regex::new(r"\$\{IFS\}|\$IFS\b").ok();
    let command = match &ifs {
        Some(re) if command.contains("IFS") => re.replace_all(command, " ").into_owned(),
        _ => command.to_string(),
    };
    let command = command.as_str();
    let mut state = State {
        ctx,
        command,
        vars: HashMap::new(),
        cwds: vec![ctx.cwd.clone()],
        out: Analysis::default(),
        depth: 0,
        budget: MAX_COMMANDS,
        fetched_word: None,
        current_fetched: None,
        filtered_find: false,
        pipe_stdin: None,
        pending_stdin: None,
        seen_changes: std::collections::HashSet::default(),
        seen_mentions: std::collections::HashSet::default(),
        started: std::time::Instant::now(),
    };
    state.script(command);
    state.out
}

/// Programs that never change the files they are given.
const READERS: &[&str] = &[
    "cat",
    "tac",
    "less",
    "more",
    "most",
    "head",
    "tail",
    "grep",
    "egrep",
    "fgrep",
    "rg",
    "ag",
    "ack",
    "ls",
    "ll",
    "dir",
    "stat",
    "file",
    "wc",
    "diff",
    "cmp",
    "comm",
    "md5sum",
    "sha1sum",
    "sha224sum",
    "sha256sum",
    "sha384sum",
    "sha512sum",
    "b2sum",
    "cksum",
    "sum",
    "shasum",
    "test",
    "[",
    "[[",
    "readlink",
    "realpath",
    "basename",
    "dirname",
    "echo",
    "printf",
    "cd",
    "pushd",
    "popd",
    "du",
    "df",
    "tree",
    "bat",
    "batcat",
    "nl",
    "od",
    "xxd",
    "hexdump",
    "strings",
    "cut",
    "tr",
    "column",
    "fold",
    "fmt",
    "paste",
    "join",
    "which",
    "type",
    "whereis",
    "true",
    "false",
    "sleep",
    "date",
    "id",
    "whoami",
    "hostname",
    "uname",
    "pwd",
    "source",
    ".",
    "jq",
    "fd",
    "fdfind",
    "locate",
    "exa",
    "eza",
    "lsattr",
    "getfacl",
    "namei",
    "printenv",
    "export",
    "declare",
    "local",
    "readonly",
    "typeset",
    "unset",
    "read",
    "wait",
    "ps",
    "man",
    "help",
    "look",
    "expr",
    "seq",
    "yes",
    "tput",
    "clear",
    "set",
    "shopt",
    "alias",
    "hash",
    "getent",
];

/// Programs that run the rest of their arguments as a command, with those of their
/// own options that take a separate value.
const WRAPPERS: &[(&str, &[&str])] = &[
    (
        "sudo",
        &[
            "-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-T", "-R",
        ],
    ),
    ("doas", &["-u", "-C"]),
    ("command", &[]),
    ("builtin", &[]),
    ("exec", &["-a"]),
    ("nohup", &[]),
    ("time", &["-f", "-o"]),
    ("setsid", &[]),
    ("stdbuf", &["-i", "-o", "-e"]),
    ("nice", &["-n"]),
    ("ionice", &["-c", "-n", "-p"]),
    ("chrt", &[]),
    ("unbuffer", &[]),
    ("caffeinate", &["-t", "-w"]),
    ("runuser", &["-u", "-g", "-G"]),
    ("strace", &["-o", "-e", "-p", "-s", "-u"]),
    ("ltrace", &["-o", "-e", "-p", "-s", "-u"]),
];

/// Programs that fetch from the network; what they print is code from elsewhere.
const DOWNLOADERS: &[&str] = &[
    "curl",
    "wget",
    "fetch",
    "aria2c",
    "http",
    "https",
    "xh",
    "xhs",
    "lwp-request",
    "GET",
    "lynx",
    "links",
    "w3m",
    "httpie",
    "curlie",
];

/// Programs that pass what they read on (maybe transformed) to their output: a
/// download through them is still a download.
const PASS_THROUGH: &[&str] = &[
    "cat", "tee", "gunzip", "gzip", "zcat", "bzcat", "bunzip2", "bzip2", "xz", "xzcat", "unxz",
    "zstd", "zstdcat", "unzstd", "sed", "gsed", "tr", "head", "tail", "dd", "sort", "uniq", "grep",
    "cut", "rev", "iconv", "dos2unix", "tar", "openssl", "gpg", "awk", "gawk", "perl", "jq",
    "stdbuf", "pv", "brotli", "lz4", "lzcat", "unlzma", "uudecode",
];

/// Whether the program decodes a payload (`base64 -d`, `xxd -r`, `openssl enc -d`).
fn decoder(name: &str, args: &[Vec<Value>]) -> bool {
    if !matches!(
        name,
        "base64" | "base32" | "basenc" | "gbase64" | "xxd" | "openssl" | "uudecode" | "b64decode"
    ) {
        return false;
    }
    let lits = literals(args);
    let has = |flags: &[&str]| {
        lits.iter().flatten().any(|a| {
            flags.contains(&a.as_str())
                || (a.starts_with("--")
                    && flags
                        .iter()
                        .any(|f| f.starts_with("--") && f.starts_with(a.as_str()) && a.len() > 3))
        })
    };
    let short = |c: char| {
        lits.iter()
            .flatten()
            .any(|a| a.starts_with('-') && !a.starts_with("--") && a.contains(c))
    };
    match name {
        "base64" | "base32" | "basenc" | "gbase64" => {
            short('d') || short('D') || has(&["--decode"])
        }
        "xxd" => short('r') || has(&["--revert"]),
        "openssl" => lits.iter().flatten().any(|a| a == "base64" || a == "enc") && short('d'),
        "uudecode" | "b64decode" => true,
        _ => false,
    }
}

/// Interpreter options whose value is the next word.
fn valued_option(language: &str, option: &str) -> bool {
    match language {
        "python" => matches!(option, "-W" | "-X" | "-Q"),
        "node" => matches!(
            option,
            "-r" | "--require" | "--import" | "--input-type" | "--loader"
        ),
        "ruby" => matches!(option, "-r" | "-I" | "-C" | "-E"),
        "perl" => matches!(option, "-I" | "-M" | "-m"),
        "awk" => matches!(option, "-F" | "-v" | "-f"),
        _ => false,
    }
}

/// `python3.12` is `python`, `nodejs` is `node`.
fn interpreter_language(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let base = lower.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    match base {
        "nodejs" | "bun" | "deno" => "node".into(),
        "gawk" | "mawk" | "nawk" => "awk".into(),
        "powershell" => "pwsh".into(),
        other => other.to_string(),
    }
}

/// Whether `text` could be what `pattern` stands for (a hole matches anything).
pub fn glob_match(pattern: &Value, text: &str) -> bool {
    fn go(parts: &[Part], text: &str) -> bool {
        match parts.split_first() {
            None => text.is_empty(),
            Some((Part::Text(t), rest)) => {
                text.strip_prefix(t.as_str()).is_some_and(|r| go(rest, r))
            }
            Some((Part::Any, rest)) => {
                rest.is_empty()
                    || text
                        .char_indices()
                        .map(|(i, _)| i)
                        .chain([text.len()])
                        .any(|i| go(rest, &text[i..]))
            }
        }
    }
    pattern.0.len() <= 16 && go(&pattern.0, text)
}

const SHELLS: &[&str] = &[
    "sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "yash", "posh", "rbash",
];

/// Interpreters, with the options that introduce inline code.
const INTERPRETERS: &[(&str, &[&str])] = &[
    ("python", &["-c"]),
    ("perl", &["-e", "-E"]),
    ("ruby", &["-e"]),
    ("node", &["-e", "--eval", "-p", "--print"]),
    ("nodejs", &["-e", "--eval", "-p", "--print"]),
    ("deno", &["eval"]),
    ("bun", &["-e", "--eval"]),
    ("php", &["-r"]),
    ("lua", &["-e"]),
    ("luajit", &["-e"]),
    ("awk", &[]),
    ("gawk", &[]),
    ("mawk", &[]),
    ("nawk", &[]),
    ("osascript", &["-e"]),
    ("pwsh", &["-c", "-command", "-Command"]),
    ("powershell", &["-c", "-command", "-Command"]),
    ("rscript", &["-e"]),
    ("tclsh", &[]),
    ("expect", &["-c"]),
];

struct State<'a> {
    ctx: &'a Context,
    /// The whole command, judged on its text when it is too much to look at.
    command: &'a str,
    vars: HashMap<String, Vec<Value>>,
    /// The directories the next command may run in (`None`: not known).
    cwds: Vec<Option<String>>,
    out: Analysis,
    depth: usize,
    /// Simple commands still to be looked at (see [`MAX_COMMANDS`]).
    budget: usize,
    /// Set while a simple command's words are expanded, when one of them holds
    /// what a download printed (`"$(curl …)"`, `<(wget …)`).
    fetched_word: Option<String>,
    /// The same, for the command being run.
    current_fetched: Option<String>,
    /// Set while `find -exec` runs its command on files a test picks.
    filtered_find: bool,
    /// The standard input of the simple command whose words are being expanded:
    /// what `$(cat)` in them reads.
    pipe_stdin: Option<Stdin>,
    /// The standard input of the first command of the next pipeline (what a
    /// `>(…)` process substitution reads).
    pending_stdin: Option<Stdin>,
    /// What is already in `out.changes` and `out.mentions`, so a long command
    /// costs time in proportion to its length.
    seen_changes: std::collections::HashSet<Change>,
    seen_mentions: std::collections::HashSet<Value>,
    /// When the analysis began (see [`ANALYSIS_BUDGET`]).
    started: std::time::Instant,
}

/// A program's base name, lower-cased where file systems ignore case.
fn program_name(value: &Value) -> Option<String> {
    let text = value.literal()?;
    let base = text.rsplit('/').next().unwrap_or(&text).to_string();
    Some(if cfg!(any(target_os = "macos", windows)) {
        base.to_ascii_lowercase()
    } else {
        base
    })
}

/// `python3.12` is `python`, `gawk` stays `gawk`.
fn interpreter(name: &str) -> Option<&'static [&'static str]> {
    let lower = name.to_ascii_lowercase();
    let base = lower.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    INTERPRETERS
        .iter()
        .find(|(n, _)| *n == base)
        .map(|(_, opts)| *opts)
}

impl State<'_> {
    /// Looks at a whole script; returns what its last command prints.
    fn script(&mut self, text: &str) -> Option<Stdin> {
        if self.depth > MAX_DEPTH {
            self.out.unknown_code = true;
            self.out.code.push(text.to_string());
            return Some(Stdin::Unknown);
        }
        if text.len() > MAX_PARSED_BYTES || nesting(text) > MAX_NESTING || too_many_words(text) {
            self.out.unparsed = true;
            self.out.unknown_code = true;
            self.out.code.push(text.to_string());
            return Some(Stdin::Unknown);
        }
        let options = ParserOptions::default();
        let parsed = guarded(|| {
            Parser::new(std::io::BufReader::new(text.as_bytes()), &options).parse_program()
        });
        match parsed.and_then(Result::ok) {
            Some(program) => {
                self.depth += 1;
                let mut output = None;
                for list in &program.complete_commands {
                    output = self.compound_list(list);
                }
                self.depth -= 1;
                output
            }
            None => {
                self.out.unparsed = true;
                self.out.code.push(text.to_string());
                Some(Stdin::Unknown)
            }
        }
    }

    fn compound_list(&mut self, list: &ast::CompoundList) -> Option<Stdin> {
        let mut output = None;
        for item in &list.0 {
            let before = self.cwds.clone();
            output = self.and_or(&item.0);
            // The list went on whether or not a `cd` in it worked.
            self.merge_cwds(&before);
        }
        output
    }

    fn merge_cwds(&mut self, other: &[Option<String>]) {
        for cwd in other {
            if !self.cwds.contains(cwd) {
                self.cwds.push(cwd.clone());
            }
        }
    }

    fn and_or(&mut self, list: &ast::AndOrList) -> Option<Stdin> {
        let mut output = self.pipeline(&list.first);
        for next in &list.additional {
            match next {
                ast::AndOr::And(p) => output = self.pipeline(p),
                ast::AndOr::Or(p) => {
                    let before = self.cwds.clone();
                    output = self.pipeline(p);
                    self.merge_cwds(&before);
                }
            }
        }
        output
    }

    fn pipeline(&mut self, pipeline: &ast::Pipeline) -> Option<Stdin> {
        let mut stdin: Option<Stdin> = self.pending_stdin.take();
        for command in &pipeline.seq {
            stdin = self.command(command, stdin.take());
        }
        stdin
    }

    /// Returns what the command writes to its standard output, when that is code
    /// the next command of the pipeline might run.
    fn command(&mut self, command: &ast::Command, stdin: Option<Stdin>) -> Option<Stdin> {
        match command {
            ast::Command::Simple(simple) => self.simple(simple, stdin),
            ast::Command::Compound(compound, redirects) => {
                if let Some(redirects) = redirects {
                    for r in &redirects.0 {
                        self.redirect(r, "redirect");
                    }
                }
                // `(curl …) | sh`, `{ curl …; } | bash`: a group prints what its
                // last command prints.
                let output = match compound {
                    ast::CompoundCommand::BraceGroup(g) => self.compound_list(&g.list),
                    ast::CompoundCommand::Subshell(s) => self.compound_list(&s.list),
                    other => {
                        self.compound(other);
                        None
                    }
                };
                Some(output.unwrap_or(Stdin::Unknown))
            }
            ast::Command::Function(function) => {
                // Whatever a function does may run later in the line: look at it now.
                self.compound(&function.body.0);
                None
            }
            ast::Command::ExtendedTest(_, redirects) => {
                if let Some(redirects) = redirects {
                    for r in &redirects.0 {
                        self.redirect(r, "redirect");
                    }
                }
                None
            }
        }
    }

    fn compound(&mut self, compound: &ast::CompoundCommand) {
        use ast::CompoundCommand as C;
        match compound {
            C::BraceGroup(g) => {
                self.compound_list(&g.list);
            }
            C::Subshell(s) => {
                self.compound_list(&s.list);
            }
            C::ForClause(f) => {
                let mut values = Vec::new();
                for w in f.values.iter().flatten() {
                    values.extend(self.expand(&w.value));
                }
                if values.is_empty() {
                    values.push(Value::any());
                }
                values.truncate(MAX_ALTERNATIVES);
                self.vars.insert(f.variable_name.clone(), values);
                self.compound_list(&f.body.list);
            }
            C::CaseClause(c) => {
                for item in &c.cases {
                    if let Some(cmd) = &item.cmd {
                        self.compound_list(cmd);
                    }
                }
            }
            C::IfClause(i) => {
                self.compound_list(&i.condition);
                self.compound_list(&i.then);
                for e in i.elses.iter().flatten() {
                    if let Some(c) = &e.condition {
                        self.compound_list(c);
                    }
                    self.compound_list(&e.body);
                }
            }
            C::WhileClause(w) | C::UntilClause(w) => {
                self.compound_list(&w.0);
                self.compound_list(&w.1.list);
            }
            C::ArithmeticForClause(f) => {
                self.compound_list(&f.body.list);
            }
            C::Coprocess(c) => {
                self.command(&c.body, None);
            }
            // `( ( cmd ) )` reads as arithmetic to the parser but runs as nested
            // subshells in bash, and `$(…)` inside arithmetic runs too: the text is
            // looked at as commands as well.
            C::Arithmetic(a) => {
                self.nested(&a.expr.value);
            }
        }
    }

    fn redirect(&mut self, redirect: &ast::IoRedirect, program: &str) {
        use ast::{IoFileRedirectKind as K, IoFileRedirectTarget as T, IoRedirect as R};
        match redirect {
            R::File(_, kind, target) => match target {
                T::Filename(w) => {
                    let writes = matches!(
                        kind,
                        K::Write | K::Append | K::Clobber | K::ReadAndWrite | K::DuplicateOutput
                    );
                    for v in self.expand(&w.value) {
                        for path in self.resolve(&v) {
                            self.mention(&path);
                            if matches!(kind, K::Read | K::ReadAndWrite) {
                                self.out.redirect_reads.push(path.clone());
                            }
                            if writes {
                                self.change(path, false, program);
                            }
                        }
                    }
                }
                T::Duplicate(w) => {
                    // `>&file` writes to a file; `>&2` and `>&-` do not.
                    let text = w.value.trim();
                    let is_fd = text == "-" || text.chars().all(|c| c.is_ascii_digit());
                    if matches!(kind, K::DuplicateOutput) && !is_fd {
                        for v in self.expand(&w.value) {
                            for path in self.resolve(&v) {
                                self.change(path, false, program);
                            }
                        }
                    }
                }
                T::ProcessSubstitution(_, sub) => {
                    self.compound_list(&sub.list);
                }
                T::Fd(_) => {}
            },
            R::OutputAndError(w, _) => {
                for v in self.expand(&w.value) {
                    for path in self.resolve(&v) {
                        self.change(path, false, program);
                    }
                }
            }
            R::HereDocument(..) | R::HereString(..) => {}
        }
    }

    fn simple(&mut self, simple: &ast::SimpleCommand, stdin: Option<Stdin>) -> Option<Stdin> {
        // The clock is read only once a command has many parts: a short command is
        // always looked at in full, however loaded the machine is.
        if self.budget > 0
            && MAX_COMMANDS - self.budget >= TIMED_AFTER
            && self.started.elapsed() > ANALYSIS_BUDGET
        {
            self.budget = 0;
        }
        if self.budget == 0 {
            if !self.out.unparsed {
                self.out.unparsed = true;
                self.out.unknown_code = true;
                self.out.code.push(self.command.to_string());
            }
            return None;
        }
        self.budget -= 1;
        let program = simple
            .word_or_name
            .as_ref()
            .map_or_else(|| "redirect".to_string(), |w| w.value.clone());
        let mut words = Words::default();
        let outer = self.fetched_word.take();
        let outer_pipe = std::mem::replace(&mut self.pipe_stdin, stdin.clone());
        for item in simple.prefix.iter().flat_map(|p| p.0.iter()) {
            self.item(item, &mut words, &program, false);
        }
        if let Some(name) = &simple.word_or_name {
            let name = self.expand(&name.value);
            words.argv.push(name);
        }
        for item in simple.suffix.iter().flat_map(|s| s.0.iter()) {
            self.item(item, &mut words, &program, true);
        }
        let fetched = std::mem::replace(&mut self.fetched_word, outer);
        self.pipe_stdin = outer_pipe;
        for (name, values) in words.assignments {
            self.vars.insert(name, values);
        }
        if words.argv.is_empty() {
            return None;
        }
        let previous = std::mem::replace(&mut self.current_fetched, fetched);
        let stdin = words.stdin.or(stdin);
        let output = self.run(&words.argv, stdin.clone());
        self.current_fetched = previous;
        // `tee >(sh)`, `curl … > >(bash)`: what the command writes is read there.
        for sub in std::mem::take(&mut words.output_subs) {
            self.pending_stdin = output.clone().or_else(|| stdin.clone());
            self.compound_list(&sub.list);
            self.pending_stdin = None;
        }
        // `curl URL > x.sh`: the download is saved, not printed.
        if matches!(output, Some(Stdin::Fetched(_))) && !words.outputs.is_empty() {
            self.out.downloads.extend(words.outputs);
            return None;
        }
        output
    }

    fn item(
        &mut self,
        item: &ast::CommandPrefixOrSuffixItem,
        words: &mut Words,
        program: &str,
        after_program: bool,
    ) {
        use ast::CommandPrefixOrSuffixItem as I;
        match item {
            I::Word(w) => {
                let values = self.expand(&w.value);
                words.argv.push(values);
            }
            I::AssignmentWord(a, w) => {
                let values = match &a.value {
                    ast::AssignmentValue::Scalar(v) => self.expand(&v.value),
                    ast::AssignmentValue::Array(items) => {
                        let mut all = Vec::new();
                        for (_, v) in items {
                            all.extend(self.expand(&v.value));
                        }
                        all
                    }
                };
                for v in &values {
                    for path in self.resolve(v) {
                        self.mention(&path);
                    }
                }
                let name = match &a.name {
                    ast::AssignmentName::VariableName(n)
                    | ast::AssignmentName::ArrayElementName(n, _) => n.clone(),
                };
                if after_program {
                    // `export X=…`: an argument that also sets a variable.
                    let arg = self.expand(&w.value);
                    words.argv.push(arg);
                }
                words.assignments.push((name, values));
            }
            I::IoRedirect(r) => {
                use ast::{IoFileRedirectKind as K, IoFileRedirectTarget as T};
                match r {
                    // `bash < <(curl …)`
                    ast::IoRedirect::File(_, K::Read, T::ProcessSubstitution(_, sub)) => {
                        words.stdin = Some(self.compound_list(&sub.list).unwrap_or(Stdin::Unknown));
                        return;
                    }
                    ast::IoRedirect::File(
                        _,
                        _,
                        T::ProcessSubstitution(ast::ProcessSubstitutionKind::Write, sub),
                    ) => {
                        words.output_subs.push(sub.clone());
                        return;
                    }
                    ast::IoRedirect::File(
                        None | Some(1),
                        K::Write | K::Append | K::Clobber,
                        T::Filename(w),
                    ) => {
                        for v in self.expand(&w.value) {
                            words.outputs.extend(self.resolve(&v));
                        }
                    }
                    ast::IoRedirect::HereDocument(_, doc) => {
                        words.stdin = Some(Stdin::Text(doc.doc.value.clone()));
                    }
                    ast::IoRedirect::HereString(_, w) => {
                        let before = self.fetched_word.take();
                        let values = self.expand(&w.value);
                        let fetched = self.fetched_word.take();
                        self.fetched_word = before.or(fetched.clone());
                        words.stdin =
                            Some(match (values.first().and_then(Value::literal), fetched) {
                                (_, Some(f)) if f.ends_with("decoded payload") => Stdin::Decoded,
                                (_, Some(f)) => {
                                    Stdin::Fetched(f.trim_end_matches(" output").to_string())
                                }
                                (Some(t), None) => Stdin::Text(t),
                                (None, None) => Stdin::Unknown,
                            });
                    }
                    _ => {}
                }
                self.redirect(r, program);
            }
            I::ProcessSubstitution(ast::ProcessSubstitutionKind::Write, sub) => {
                words.output_subs.push(sub.clone());
                words.argv.push(vec![Value::any()]);
            }
            I::ProcessSubstitution(_, sub) => {
                if let Some(foreign) = self.compound_list(&sub.list).and_then(|o| o.foreign()) {
                    self.fetched_word = Some(foreign);
                }
                words.argv.push(vec![Value::any()]);
            }
        }
    }

    /// One program with its arguments (each a list of alternatives): recorded, then
    /// looked at; returns what it prints when that matters to the next command.
    fn run(&mut self, argv: &[Vec<Value>], stdin: Option<Stdin>) -> Option<Stdin> {
        let first = argv.first().and_then(|a| a.first())?;
        let name = program_name(first);
        self.out.invocations.push(Invocation {
            name: name.clone(),
            argv: argv.to_vec(),
            cwds: self.cwds.clone(),
            stdin: stdin.clone(),
            from_filtered_find: self.filtered_find,
        });
        if first.literal().is_some_and(|l| l.contains('/')) && self.downloaded(first) {
            self.out.fetched_runs.push(format!(
                "{} is run after it was downloaded",
                first.display()
            ));
        }
        let output = self.program(argv, stdin.clone());
        let Some(name) = name else { return output };
        if DOWNLOADERS.contains(&name.as_str()) {
            self.download(&name, &argv[1..]);
            return Some(Stdin::Fetched(name));
        }
        if decoder(&name, &argv[1..]) {
            return Some(match stdin {
                Some(Stdin::Fetched(by)) => Stdin::Fetched(by),
                _ => Stdin::Decoded,
            });
        }
        if PASS_THROUGH.contains(&name.as_str())
            && stdin.as_ref().is_some_and(|s| s.foreign().is_some())
        {
            return stdin;
        }
        output
    }

    /// Whether `value` names a file downloaded earlier in the command line.
    fn downloaded(&self, value: &Value) -> bool {
        let paths = self.resolve(value);
        self.out.downloads.iter().any(|d| {
            paths.iter().any(|p| match (p.literal(), d.literal()) {
                (Some(p), Some(d)) => p == d,
                (Some(p), None) => glob_match(d, &p),
                _ => false,
            })
        })
    }

    /// A download program: where it saves what it fetches.
    fn download(&mut self, name: &str, args: &[Vec<Value>]) {
        use crate::packs::opts::{self, Spec};
        let spec = match name {
            "curl" => Spec {
                short_valued: "oHdXuAeErTFbcKwmQUxyYzCDPt",
                long: &[
                    ("output", true),
                    ("remote-name", false),
                    ("remote-name-all", false),
                    ("output-dir", true),
                    ("header", true),
                    ("data", true),
                    ("request", true),
                    ("user", true),
                    ("user-agent", true),
                    ("url", true),
                    ("config", true),
                ],
                stop_at_operand: false,
            },
            "wget" => Spec {
                short_valued: "OPoaiUetTwQBlARDXI",
                long: &[
                    ("output-document", true),
                    ("directory-prefix", true),
                    ("output-file", true),
                    ("input-file", true),
                    ("user-agent", true),
                    ("header", true),
                ],
                stop_at_operand: false,
            },
            "aria2c" => Spec {
                short_valued: "odisjx",
                long: &[("out", true), ("dir", true), ("input-file", true)],
                stop_at_operand: false,
            },
            _ => Spec {
                short_valued: "o",
                long: &[("output", true), ("download", false)],
                stop_at_operand: false,
            },
        };
        let p = opts::parse(args, &spec);
        let named: Vec<Value> = match name {
            "wget" => p
                .value(&["-O", "--output-document"])
                .cloned()
                .into_iter()
                .collect(),
            "aria2c" => p.value(&["-o", "--out"]).cloned().into_iter().collect(),
            _ => p.value(&["-o", "--output"]).cloned().into_iter().collect(),
        };
        let dir = match name {
            "wget" => p.value(&["-P", "--directory-prefix"]).cloned(),
            "aria2c" => p.value(&["-d", "--dir"]).cloned(),
            _ => p.value(&["--output-dir"]).cloned(),
        };
        let remote_name = named.is_empty()
            && match name {
                "wget" | "aria2c" => true,
                "curl" => p.has(&["-O", "--remote-name", "--remote-name-all"]),
                _ => p.has(&["--download"]),
            };
        for v in named {
            if v.literal().as_deref() != Some("-") {
                self.out.downloads.extend(self.resolve(&v));
            }
        }
        if remote_name {
            let base = dir.unwrap_or_else(|| Value::text("."));
            for url in p
                .literal_operands()
                .into_iter()
                .flatten()
                .filter(|u| u.contains("://") || u.contains('.'))
            {
                let leaf = url
                    .split(['?', '#'])
                    .next()
                    .unwrap_or("")
                    .rsplit('/')
                    .next()
                    .filter(|l| !l.is_empty() && !l.contains(':'))
                    .map_or_else(Value::any, Value::text);
                let mut v = base.clone();
                v.push_text("/");
                v.extend(&leaf);
                self.out.downloads.extend(self.resolve(&v));
            }
        }
    }

    fn program(&mut self, argv: &[Vec<Value>], stdin: Option<Stdin>) -> Option<Stdin> {
        let first = argv.first().and_then(|a| a.first())?;
        for alternatives in argv {
            for v in alternatives {
                for path in self.resolve(v) {
                    self.mention(&path);
                }
            }
        }
        let Some(name) = program_name(first) else {
            return Some(self.unknown_program(first, argv, stdin.as_ref()));
        };
        let args = &argv[1..];
        let lits = literals(args);
        let lit = |i: usize| lits.get(i).cloned().flatten();
        if let Some((_, valued)) = WRAPPERS.iter().find(|(n, _)| *n == name) {
            return self.wrapper(&name, valued, args, &lits, stdin);
        }
        match name.as_str() {
            "env" => self.env(args, &lits, stdin),
            "timeout" => self.timeout(args, &lits, stdin),
            "watch" => {
                self.watch(args, &lits);
                None
            }
            "flock" => self.flock(args, &lits, stdin),
            "xargs" => {
                self.xargs(args, &lits, stdin.as_ref());
                None
            }
            "find" => self.find_listing(args, &lits),
            "eval" => {
                self.eval(args);
                None
            }
            "trap" => {
                // `trap 'CODE' EXIT`: the code runs when the shell exits.
                if let Some(code) = lit(0).filter(|c| c != "-" && !c.starts_with('-')) {
                    self.nested(&code);
                }
                None
            }
            "source" | "." => {
                self.source(&name, args, &lits, stdin.as_ref());
                Some(Stdin::Unknown)
            }
            n if SHELLS.contains(&n) || n == "busybox" => {
                self.shell(&name, args, &lits, stdin, argv);
                None
            }
            _ => self.tool(&name, argv, &lits, stdin),
        }
    }

    /// Programs that read or write files, and the rest (interpreters, anything else).
    fn tool(
        &mut self,
        name: &str,
        argv: &[Vec<Value>],
        lits: &[Option<String>],
        stdin: Option<Stdin>,
    ) -> Option<Stdin> {
        let args = &argv[1..];
        match name {
            "codex-guard" => {
                self.codex_guard(args, lits);
                None
            }
            "cp" | "install" | "rsync" | "scp" => {
                self.copy(name, args, lits, false);
                None
            }
            "mv" | "ln" | "link" => {
                self.copy(name, args, lits, true);
                None
            }
            "sed" | "gsed" => {
                self.sed(name, argv, lits);
                None
            }
            "sort" => {
                self.sort(name, args, lits);
                None
            }
            "tee" => {
                self.tee(name, args, lits);
                None
            }
            "dd" => {
                self.dd(name, args, lits);
                None
            }
            "tar" | "bsdtar" | "gtar" => {
                self.tar(args, lits);
                None
            }
            "mkdir" | "touch" | "mkfifo" | "mknod" => {
                self.generic(argv, name, false);
                None
            }
            "rm" | "unlink" | "rmdir" | "shred" | "srm" | "trash" | "trash-put" | "gio" => {
                let recursive = name != "rm" || recursive_flag(lits, &["-r", "-R"], "--recursive");
                self.generic(argv, name, recursive);
                None
            }
            "chmod" | "chown" | "chgrp" | "chattr" | "setfacl" | "chflags" | "xattr" => {
                let recursive = recursive_flag(lits, &["-R"], "--recursive");
                self.generic(argv, name, recursive);
                None
            }
            "git" => {
                self.git(args, lits, argv);
                None
            }
            n if READERS.contains(&n) => self.reader(n, args, lits, stdin),
            n => {
                if let Some(code_opts) = interpreter(n) {
                    self.interpreter(n, code_opts, args, lits, stdin);
                }
                self.generic(argv, n, true);
                Some(Stdin::Unknown)
            }
        }
    }

    /// A program known only at run time (`$X -rf …`); `curl … | $SHELL` may be a shell.
    fn unknown_program(
        &mut self,
        first: &Value,
        argv: &[Vec<Value>],
        stdin: Option<&Stdin>,
    ) -> Stdin {
        if let Some(foreign) = stdin
            .and_then(Stdin::foreign)
            .or_else(|| self.current_fetched.clone())
        {
            self.out.fetched_runs.push(format!(
                "{foreign} handed to {}, a program that cannot be known before the command runs",
                first.display()
            ));
        }
        self.generic(argv, "(unknown program)", true);
        Stdin::Unknown
    }

    /// `nice`, `sudo`, `strace`…: skip their options, then judge the command they run.
    fn wrapper(
        &mut self,
        name: &str,
        valued: &[&str],
        args: &[Vec<Value>],
        lits: &[Option<String>],
        stdin: Option<Stdin>,
    ) -> Option<Stdin> {
        let mut i = 0;
        while let Some(arg) = lit_at(lits, i) {
            if arg == "--" {
                i += 1;
                break;
            }
            if !arg.starts_with('-') || arg == "-" {
                break;
            }
            if (name == "strace" || name == "ltrace" || name == "time") && arg == "-o" {
                if let Some(v) = args.get(i + 1) {
                    for v in v.clone() {
                        for path in self.resolve(&v) {
                            self.change(path, false, name);
                        }
                    }
                }
            }
            i += if valued.contains(&arg.as_str()) { 2 } else { 1 };
        }
        // `nice -n 5 cmd`, `timeout 5 cmd`: a bare number before the command.
        if name == "chrt" {
            while lit_at(lits, i).is_some_and(|a| a.chars().all(|c| c.is_ascii_digit())) {
                i += 1;
            }
        }
        if i < args.len() {
            return self.run(&args[i..], stdin);
        }
        None
    }

    /// `env [OPTION]… [NAME=VALUE]… COMMAND`.
    fn env(
        &mut self,
        args: &[Vec<Value>],
        lits: &[Option<String>],
        stdin: Option<Stdin>,
    ) -> Option<Stdin> {
        let mut i = 0;
        // `NAME=$VALUE`: an assignment, whatever the value.
        let assignment = |a: &Vec<Value>| {
            a.iter().all(|v| {
                matches!(v.0.first(), Some(Part::Text(t)) if t.split_once('=').is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')))
            })
        };
        while let Some(arg) = lit_at(lits, i).or_else(|| {
            args.get(i)
                .filter(|a| assignment(a))
                .map(|_| "X=".to_string())
        }) {
            match arg.as_str() {
                "-i" | "-0" | "--ignore-environment" | "--null" | "-" => i += 1,
                "-u" | "--unset" => i += 2,
                "-C" | "--chdir" => {
                    if let Some(dir) = args.get(i + 1).and_then(|a| a.first()) {
                        let dirs = self.resolve(dir);
                        self.cwds = dirs.iter().map(Value::literal).collect();
                    }
                    i += 2;
                }
                "-S" | "--split-string" => {
                    let rest = join_literal(&args[i + 1..]);
                    match rest {
                        Some(text) => {
                            self.nested(&text);
                        }
                        None => self.out.unknown_code = true,
                    }
                    return None;
                }
                a if a.contains('=') && !a.starts_with('-') => i += 1,
                a if a.starts_with('-') => i += 1,
                _ => break,
            }
        }
        if i < args.len() {
            return self.run(&args[i..], stdin);
        }
        None
    }

    /// `timeout [OPTION]… DURATION COMMAND`.
    fn timeout(
        &mut self,
        args: &[Vec<Value>],
        lits: &[Option<String>],
        stdin: Option<Stdin>,
    ) -> Option<Stdin> {
        let mut i = 0;
        while let Some(arg) = lit_at(lits, i) {
            if arg == "-s" || arg == "-k" || arg == "--signal" || arg == "--kill-after" {
                i += 2;
            } else if arg.starts_with('-') {
                i += 1;
            } else {
                break;
            }
        }
        // The duration.
        i += 1;
        if i < args.len() {
            return self.run(&args[i..], stdin);
        }
        None
    }

    /// `watch [OPTION]… COMMAND`: the command is shell code.
    fn watch(&mut self, args: &[Vec<Value>], lits: &[Option<String>]) {
        let mut i = 0;
        while let Some(arg) = lit_at(lits, i) {
            if arg == "-n" || arg == "--interval" || arg == "-d" {
                i += if arg == "-d" { 1 } else { 2 };
            } else if arg.starts_with('-') {
                i += 1;
            } else {
                break;
            }
        }
        match join_literal(&args[i.min(args.len())..]) {
            Some(text) => {
                self.nested(&text);
            }
            None => self.out.unknown_code = true,
        }
    }

    /// `flock [OPTION]… FILE (-c CODE | COMMAND)`.
    fn flock(
        &mut self,
        args: &[Vec<Value>],
        lits: &[Option<String>],
        stdin: Option<Stdin>,
    ) -> Option<Stdin> {
        let mut i = 0;
        while let Some(arg) = lit_at(lits, i) {
            if arg == "-c" || arg == "--command" {
                match lit_at(lits, i + 1) {
                    Some(text) => {
                        self.nested(&text);
                    }
                    None => self.out.unknown_code = true,
                }
                return None;
            }
            if arg.starts_with('-') {
                i += if arg == "-w" || arg == "--timeout" || arg == "-E" {
                    2
                } else {
                    1
                };
            } else {
                break;
            }
        }
        // The lock file, then the command.
        if i + 1 < args.len() {
            return self.run(&args[i + 1..], stdin);
        }
        None
    }

    /// `find`: its actions, and a listing of its roots for what reads its output.
    fn find_listing(&mut self, args: &[Vec<Value>], lits: &[Option<String>]) -> Option<Stdin> {
        self.find(args, lits);
        let roots: Vec<Value> = args
            .iter()
            .zip(lits)
            .take_while(|(_, l)| {
                !l.as_deref()
                    .is_some_and(|l| l.starts_with('-') || l == "(" || l == "!")
            })
            .flat_map(|(a, _)| a.iter().flat_map(|v| self.resolve(v)).collect::<Vec<_>>())
            .map(|mut v| {
                v.push_text("/");
                v.push_any();
                v
            })
            .collect();
        (!roots.is_empty() && roots.len() <= MAX_ALTERNATIVES).then_some(Stdin::Listing(roots))
    }

    /// `eval CODE…`.
    fn eval(&mut self, args: &[Vec<Value>]) {
        match join_literal(args) {
            Some(text) => {
                self.nested(&text);
            }
            None => {
                if let Some(fetched) = self.current_fetched.clone() {
                    self.out.fetched_runs.push(format!("{fetched} run by eval"));
                }
                self.out.unknown_code = true;
            }
        }
    }

    /// `source FILE` / `. FILE`: what a fetched or unknown script brings in.
    fn source(
        &mut self,
        name: &str,
        args: &[Vec<Value>],
        lits: &[Option<String>],
        stdin: Option<&Stdin>,
    ) {
        let operand = args.first();
        let from_stdin = lits
            .first()
            .is_some_and(|l| matches!(l.as_deref(), Some("/dev/stdin" | "/proc/self/fd/0" | "-")));
        let foreign = if from_stdin {
            stdin.and_then(Stdin::foreign)
        } else {
            None
        };
        if let Some(what) = self.current_fetched.clone().or(foreign) {
            self.out
                .fetched_runs
                .push(format!("{what} sourced by {name}"));
        } else if operand.is_some_and(|o| o.iter().any(|v| self.downloaded(v))) {
            self.out
                .fetched_runs
                .push(format!("{name} runs a downloaded script"));
        } else if operand.is_some_and(|o| o.iter().any(Value::is_unknown)) || from_stdin {
            self.out.unknown_code = true;
        }
    }

    /// `sed`: its script is code (`w FILE` writes); `-i` edits its operands.
    fn sed(&mut self, name: &str, argv: &[Vec<Value>], lits: &[Option<String>]) {
        let args = &argv[1..];
        let in_place = lits.iter().flatten().any(|a| {
            a.starts_with("--in-place")
                || (a.starts_with('-') && !a.starts_with("--") && a.contains('i'))
        });
        // The script (`-e S`, `--expression=S`, else the first operand) may
        // write files of its own (`w FILE`).
        let mut script_given = false;
        let mut i = 0;
        while i < args.len() {
            match lit_at(lits, i).as_deref() {
                Some("-e" | "--expression" | "-f" | "--file") => {
                    script_given = true;
                    self.code_args(&args[i + 1..(i + 2).min(args.len())]);
                    i += 1;
                }
                Some(a) if a.starts_with("--expression=") => {
                    script_given = true;
                    self.out.code.push(a.to_string());
                }
                Some(a) if a.starts_with('-') => {}
                _ if !script_given => {
                    script_given = true;
                    self.code_args(&args[i..=i]);
                }
                _ => {}
            }
            i += 1;
        }
        if in_place {
            self.generic(argv, name, false);
        }
    }

    /// `sort -o FILE`.
    fn sort(&mut self, name: &str, args: &[Vec<Value>], lits: &[Option<String>]) {
        let mut i = 0;
        while i < args.len() {
            if let Some(a) = lit_at(lits, i) {
                if a == "-o" || a == "--output" {
                    self.change_arg(args.get(i + 1), false, name);
                } else if let Some(v) = a.strip_prefix("--output=") {
                    self.change_value(&Value::text(v), false, name);
                } else if let Some(v) = a.strip_prefix("-o").filter(|v| !v.is_empty()) {
                    self.change_value(&Value::text(v), false, name);
                }
            }
            i += 1;
        }
    }

    /// `tee FILE…`.
    fn tee(&mut self, name: &str, args: &[Vec<Value>], lits: &[Option<String>]) {
        for (i, a) in args.iter().enumerate() {
            if lit_at(lits, i).is_some_and(|l| l.starts_with('-')) {
                continue;
            }
            self.change_arg(Some(a), false, name);
        }
    }

    /// `dd of=FILE`.
    fn dd(&mut self, name: &str, args: &[Vec<Value>], lits: &[Option<String>]) {
        for (i, a) in args.iter().enumerate() {
            if let Some(of) =
                lit_at(lits, i).and_then(|l| l.strip_prefix("of=").map(str::to_string))
            {
                self.change_value(&Value::text(&of), false, name);
            } else if a
                .iter()
                .any(|v| v.starts_with_text("of=") || v.literal().is_none())
            {
                for v in a {
                    let mut rest = v.clone();
                    if let Some(Part::Text(t)) = rest.0.first_mut() {
                        if let Some(s) = t.strip_prefix("of=") {
                            *t = s.to_string();
                        }
                    }
                    self.change_value(&rest, false, name);
                }
            }
        }
    }

    /// Programs that read (and `echo`/`ls`, whose output a pipe reads): what they
    /// hand on as the next command's stdin.
    fn reader(
        &mut self,
        n: &str,
        args: &[Vec<Value>],
        lits: &[Option<String>],
        stdin: Option<Stdin>,
    ) -> Option<Stdin> {
        if n == "cd" || n == "pushd" {
            self.cd(args, lits);
            return None;
        }
        if n == "echo" || n == "printf" {
            let interprets = n == "printf"
                || lit_at(lits, 0).is_some_and(|a| a.starts_with('-') && a.contains('e'));
            return Some(match join_literal(args) {
                Some(text) if interprets => Stdin::Text(ansi_c(&text)),
                Some(text) => Stdin::Text(text),
                None => Stdin::Unknown,
            });
        }
        if n == "ls" || n == "fd" || n == "fdfind" {
            let paths: Vec<Value> = args
                .iter()
                .zip(lits)
                .filter(|(_, l)| !l.as_deref().is_some_and(|l| l.starts_with('-')))
                .flat_map(|(a, _)| a.iter().flat_map(|v| self.resolve(v)).collect::<Vec<_>>())
                .map(|mut v| {
                    v.push_any();
                    v
                })
                .collect();
            if !paths.is_empty() && paths.len() <= MAX_ALTERNATIVES {
                return Some(Stdin::Listing(paths));
            }
        }
        if n == "cat" && args.is_empty() {
            return stdin;
        }
        Some(Stdin::Unknown)
    }

    fn nested(&mut self, text: &str) -> Option<Stdin> {
        self.depth += 1;
        let output = if self.depth > MAX_DEPTH {
            self.out.unknown_code = true;
            self.out.code.push(text.to_string());
            Some(Stdin::Unknown)
        } else {
            self.script(text)
        };
        self.depth -= 1;
        output
    }

    /// A program this analysis does not know: every operand may be changed, and
    /// the directory it runs in too. `recursive`: what is inside the operands too.
    fn generic(&mut self, argv: &[Vec<Value>], program: &str, recursive: bool) {
        for cwd in self.cwds.clone() {
            let dir = cwd.map_or_else(Value::any, |c| Value::text(&c));
            self.change(dir, false, program);
        }
        for alternatives in argv.iter().skip(1) {
            for v in alternatives {
                // `--output=FILE`, `-oFILE` are not told apart from flags: the value
                // after `=` counts as an operand.
                let v = match v.0.first() {
                    Some(Part::Text(t)) if t.starts_with('-') => match t.split_once('=') {
                        Some((_, rest)) => {
                            let mut value = Value::text(rest);
                            value.0.extend(v.0[1..].iter().cloned());
                            value
                        }
                        None if v.0.len() == 1 => continue,
                        None => {
                            let mut value = Value::any();
                            value.0.extend(v.0[1..].iter().cloned());
                            value
                        }
                    },
                    _ => v.clone(),
                };
                for path in self.resolve(&v) {
                    self.change(path, recursive, program);
                }
            }
        }
    }

    fn change_arg(&mut self, arg: Option<&Vec<Value>>, recursive: bool, program: &str) {
        for v in arg.cloned().unwrap_or_else(|| vec![Value::any()]) {
            self.change_value(&v, recursive, program);
        }
    }

    fn change_value(&mut self, value: &Value, recursive: bool, program: &str) {
        for path in self.resolve(value) {
            self.change(path, recursive, program);
        }
    }

    fn change(&mut self, target: Value, recursive: bool, program: &str) {
        let change = Change {
            target,
            recursive,
            program: program.to_string(),
        };
        if self.seen_changes.insert(change.clone()) {
            self.out.changes.push(change);
        }
    }

    fn mention(&mut self, path: &Value) {
        if !path.is_unknown() && self.seen_mentions.insert(path.clone()) {
            self.out.mentions.push(path.clone());
        }
    }

    fn cd(&mut self, args: &[Vec<Value>], lits: &[Option<String>]) {
        let operand = args
            .iter()
            .zip(lits)
            .find(|(_, l)| !l.as_deref().is_some_and(|l| l.starts_with('-') && l != "-"));
        let new: Vec<Option<String>> = match operand {
            None => vec![self.ctx.home.clone()],
            Some((_, Some(l))) if l == "-" => vec![None],
            Some((alternatives, _)) => alternatives
                .iter()
                .flat_map(|v| self.resolve(v))
                .map(|v| v.literal())
                .collect(),
        };
        self.cwds = new;
    }

    fn code_args(&mut self, args: &[Vec<Value>]) {
        for alternatives in args {
            for v in alternatives {
                self.out.code.push(v.display());
            }
        }
    }

    fn interpreter(
        &mut self,
        name: &str,
        code_opts: &[&str],
        args: &[Vec<Value>],
        lits: &[Option<String>],
        stdin: Option<Stdin>,
    ) {
        // Inline code anywhere among the arguments (`-c CODE`, `-e CODE`, an awk
        // program, `perl -pi -e`), a script read from stdin, or a script file.
        self.code_args(args);
        let language = interpreter_language(name);
        let clustered = matches!(language.as_str(), "perl" | "ruby");
        let mut inline: Vec<String> = Vec::new();
        let mut has_inline = false;
        let mut file: Option<&Vec<Value>> = None;
        let mut i = 0;
        while i < args.len() {
            match lit_at(lits, i) {
                Some(a)
                    if code_opts.contains(&a.as_str())
                        || (clustered
                            && a.len() <= 6
                            && a.starts_with('-')
                            && !a.starts_with("--")
                            && a[1..].chars().all(|c| c.is_ascii_alphabetic())
                            && (a.ends_with('e') || a.ends_with('E'))) =>
                {
                    has_inline = true;
                    if let Some(code) = args.get(i + 1) {
                        inline.extend(code.iter().map(Value::display));
                    }
                    i += 1;
                }
                Some(a) if code_opts.iter().any(|o| o.len() == 2 && a.starts_with(o)) => {
                    // `-c'code'` written as one word.
                    has_inline = true;
                    inline.push(a[2..].to_string());
                }
                Some(a) if language == "python" && a == "-m" => {
                    // A module runs: what it reads on stdin is its data.
                    file = Some(&args[i]);
                    break;
                }
                Some(a) if valued_option(&language, &a) => i += 1,
                Some(a) if a.starts_with('-') => {}
                _ if code_opts.is_empty() && !has_inline => {
                    // awk's program is its first operand.
                    has_inline = true;
                    inline.extend(args[i].iter().map(Value::display));
                }
                _ => {
                    if file.is_none() && !has_inline {
                        file = Some(&args[i]);
                    }
                    break;
                }
            }
            i += 1;
        }
        if has_inline {
            if let Some(fetched) = self.current_fetched.clone() {
                self.out
                    .fetched_runs
                    .push(format!("{fetched} run as {name} code"));
            }
        }
        if let Some(file) =
            file.filter(|f| f.first().and_then(Value::literal).as_deref() != Some("-m"))
        {
            if self.current_fetched.is_some() || file.iter().any(|v| self.downloaded(v)) {
                self.out
                    .fetched_runs
                    .push(format!("{name} runs a downloaded script"));
            }
        }
        for text in inline {
            self.out.scripts.push(Script {
                interpreter: language.clone(),
                text,
            });
        }
        if !has_inline && file.is_none() {
            match stdin {
                Some(Stdin::Text(t)) => {
                    self.out.scripts.push(Script {
                        interpreter: language,
                        text: t.clone(),
                    });
                    self.out.code.push(t);
                }
                Some(other) => self.unseen_stdin(&other, name),
                None => {}
            }
        }
    }

    fn shell(
        &mut self,
        name: &str,
        args: &[Vec<Value>],
        lits: &[Option<String>],
        stdin: Option<Stdin>,
        argv: &[Vec<Value>],
    ) {
        let mut i = 0;
        // `busybox sh -c …`
        if name == "busybox" {
            if lit_at(lits, 0).is_some_and(|a| SHELLS.contains(&a.as_str())) {
                i = 1;
            } else if !args.is_empty() {
                self.run(args, stdin);
                return;
            }
        }
        while let Some(arg) = lit_at(lits, i) {
            if arg == "-c" || (arg.starts_with('-') && !arg.starts_with("--") && arg.contains('c'))
            {
                match args.get(i + 1) {
                    Some(code) if code.len() == 1 && code[0].literal().is_some() => {
                        let text = code[0].literal().unwrap_or_default();
                        self.nested(&text);
                    }
                    _ => {
                        if let Some(fetched) = self.current_fetched.clone() {
                            self.out
                                .fetched_runs
                                .push(format!("{fetched} run by {name} -c"));
                        }
                        self.out.unknown_code = true;
                    }
                }
                return;
            }
            if arg == "-o" || arg == "+o" || arg == "-O" || arg == "+O" {
                i += 2;
            } else if arg.starts_with('-') || arg.starts_with('+') {
                i += 1;
            } else {
                break;
            }
        }
        let reads_stdin = lits[..i.min(lits.len())]
            .iter()
            .flatten()
            .any(|a| a.starts_with('-') && !a.starts_with("--") && a.contains('s'))
            || matches!(
                lit_at(lits, i).as_deref(),
                Some("/dev/stdin" | "-" | "/proc/self/fd/0" | "/dev/fd/0")
            );
        if i < args.len() && !reads_stdin {
            // A script file: what it does cannot be seen; its path is an operand.
            if self.current_fetched.is_some() || args[i].iter().any(|v| self.downloaded(v)) {
                self.out
                    .fetched_runs
                    .push(format!("{name} runs a downloaded script"));
            }
            self.generic(argv, name, false);
            return;
        }
        match stdin {
            Some(Stdin::Text(t)) => {
                self.nested(&t);
            }
            Some(other) => self.unseen_stdin(&other, name),
            None => {}
        }
    }

    /// A shell or an interpreter runs code from its stdin that cannot be seen: a
    /// download or a decoded payload is recorded as such.
    fn unseen_stdin(&mut self, stdin: &Stdin, name: &str) {
        if let Some(foreign) = stdin.foreign() {
            self.out
                .fetched_runs
                .push(format!("{foreign} piped into {name}"));
        }
        self.out.unknown_code = true;
    }

    fn xargs(&mut self, args: &[Vec<Value>], lits: &[Option<String>], stdin: Option<&Stdin>) {
        let mut i = 0;
        let mut replace: Option<String> = None;
        while let Some(arg) = lit_at(lits, i) {
            match arg.as_str() {
                "-I" | "-i" | "--replace" => {
                    replace = lit_at(lits, i + 1).or(Some("{}".into()));
                    i += if arg == "-I" { 2 } else { 1 };
                }
                "-n" | "-P" | "-d" | "-a" | "-E" | "-L" | "-s" | "--max-args" | "--max-procs"
                | "--delimiter" | "--arg-file" | "--max-lines" => i += 2,
                a if a.starts_with('-') => i += 1,
                _ => break,
            }
        }
        let mut command: Vec<Vec<Value>> = if i < args.len() {
            args[i..].to_vec()
        } else {
            vec![vec![Value::text("echo")]]
        };
        if let Some(r) = replace {
            for alternatives in command.iter_mut().skip(1) {
                for v in alternatives.iter_mut() {
                    if v.literal().is_some_and(|l| l.contains(&r)) {
                        *v = Value::any();
                    }
                }
            }
        }
        // The operands come from standard input: the words of known text, the
        // paths a listing prints, else not known.
        match &stdin {
            Some(Stdin::Text(t)) if t.split_whitespace().count() <= MAX_ALTERNATIVES => {
                command.extend(t.split_whitespace().map(|w| vec![Value::text(w)]));
            }
            Some(Stdin::Listing(paths)) => command.push(paths.clone()),
            _ => command.push(vec![Value::any()]),
        }
        // Code arriving on stdin is run as arguments (`curl … | xargs sh -c`).
        let previous = self.current_fetched.clone();
        if let Some(foreign) = stdin.and_then(Stdin::foreign) {
            self.current_fetched = Some(foreign);
        }
        self.run(&command, Some(Stdin::Unknown));
        self.current_fetched = previous;
    }

    fn find(&mut self, args: &[Vec<Value>], lits: &[Option<String>]) {
        let mut roots = Vec::new();
        let mut i = 0;
        while i < args.len() {
            match lit_at(lits, i) {
                Some(a) if a.starts_with('-') || a == "(" || a == "!" => break,
                _ => roots.extend(args[i].iter().cloned()),
            }
            i += 1;
        }
        if roots.is_empty() {
            roots.push(Value::text("."));
        }
        let roots: Vec<Value> = roots.iter().flat_map(|r| self.resolve(r)).collect();
        while i < args.len() {
            let arg = lit_at(lits, i).unwrap_or_default();
            match arg.as_str() {
                "-delete" => {
                    for r in &roots {
                        self.change(r.clone(), true, "find -delete");
                    }
                }
                "-exec" | "-execdir" | "-ok" | "-okdir" => {
                    let start = i + 1;
                    let mut end = start;
                    while end < args.len() {
                        let a = lit_at(lits, end).unwrap_or_default();
                        if a == ";" || a == "+" {
                            break;
                        }
                        end += 1;
                    }
                    // `{}` stands for every path under the roots.
                    let mut command: Vec<Vec<Value>> = args[start..end].to_vec();
                    for alternatives in command.iter_mut().skip(1) {
                        if alternatives
                            .iter()
                            .any(|v| v.literal().is_some_and(|l| l.contains("{}")))
                        {
                            *alternatives = roots
                                .iter()
                                .flat_map(|r| {
                                    let mut below = r.clone();
                                    below.push_text("/");
                                    below.push_any();
                                    [r.clone(), below]
                                })
                                .collect();
                        }
                    }
                    if !command.is_empty() {
                        let saved = std::mem::replace(
                            &mut self.cwds,
                            roots.iter().map(Value::literal).collect(),
                        );
                        let filtered = std::mem::replace(
                            &mut self.filtered_find,
                            find_is_filtered(&lits[..start]),
                        );
                        self.run(&command, None);
                        self.filtered_find = filtered;
                        self.cwds = saved;
                    }
                    i = end;
                }
                "-fprint" | "-fprint0" | "-fprintf" | "-fls" => {
                    self.change_arg(args.get(i + 1), false, "find");
                    i += 1;
                }
                _ => {}
            }
            i += 1;
        }
    }

    fn codex_guard(&mut self, args: &[Vec<Value>], lits: &[Option<String>]) {
        let flags: Vec<&str> = lits.iter().flatten().map(String::as_str).collect();
        let sub = lits.iter().flatten().find(|a| !a.starts_with('-')).cloned();
        let read_only = flags
            .iter()
            .any(|f| matches!(*f, "--help" | "-h" | "--version" | "-V"))
            || match sub.as_deref() {
                None | Some("help" | "events") => true,
                Some("doctor") => !flags.contains(&"--fix"),
                Some(_) => false,
            };
        if read_only {
            return;
        }
        // Everything else changes a Codex home: the one named, else this session's.
        let named = flags
            .iter()
            .position(|f| *f == "--codex-home")
            .and_then(|p| args.get(p + 1))
            .cloned();
        let homes = named.unwrap_or_else(|| {
            vec![match self.ctx.env.get("CODEX_HOME") {
                Some(h) => Value::text(h),
                None => match &self.ctx.home {
                    Some(h) => Value::text(&format!("{h}/.codex")),
                    None => Value::any(),
                },
            }]
        });
        let program = format!("codex-guard {}", sub.unwrap_or_default());
        for h in homes {
            self.change_value(&h, true, &program);
        }
        if flags
            .iter()
            .any(|f| matches!(*f, "--managed" | "--all-users" | "--system-root"))
        {
            self.change_value(&Value::text("/etc/codex-guard"), true, &program);
            self.change_value(&Value::text("/etc/codex"), true, &program);
        }
    }

    /// `cp`, `mv`, `ln`, `install`, `rsync`, `scp`: sources are read (moved for
    /// `mv`, linked to for `ln`), the destination is written.
    fn copy(&mut self, name: &str, args: &[Vec<Value>], lits: &[Option<String>], moves: bool) {
        let valued = copy_valued_options(name);
        let mut operands: Vec<&Vec<Value>> = Vec::new();
        let mut target_dir: Option<&Vec<Value>> = None;
        let mut i = 0;
        let mut options_done = false;
        while i < args.len() {
            match lit_at(lits, i) {
                Some(a) if !options_done && a == "--" => options_done = true,
                Some(a) if !options_done && (a == "-t" || a == "--target-directory") => {
                    target_dir = args.get(i + 1);
                    i += 1;
                }
                Some(a) if !options_done && a.starts_with("--target-directory=") => {
                    let dir = a.trim_start_matches("--target-directory=").to_string();
                    let v = Value::text(&dir);
                    for path in self.resolve(&v) {
                        self.change(path, true, name);
                    }
                }
                Some(a) if !options_done && a.starts_with('-') && a.len() > 1 => {
                    if valued.contains(&a.as_str()) {
                        if matches!(a.as_str(), "--log-file" | "--backup-dir" | "-B") {
                            self.change_arg(args.get(i + 1), true, name);
                        }
                        i += 1;
                    }
                }
                _ => operands.push(&args[i]),
            }
            i += 1;
        }
        // scp and rsync name remote paths `host:path`: not on this machine.
        let local = |v: &Value| {
            !(v.literal()
                .is_some_and(|l| l.contains(':') && !l.starts_with('/')))
        };
        let (sources, dest): (Vec<&Vec<Value>>, Option<&Vec<Value>>) = match target_dir {
            Some(dir) => (operands, Some(dir)),
            None => match operands.split_last() {
                Some((last, rest)) if !rest.is_empty() || name == "ln" => {
                    (rest.to_vec(), Some(last))
                }
                Some((last, _)) => (Vec::new(), Some(last)),
                None => (Vec::new(), None),
            },
        };
        for source in &sources {
            for v in source.iter().filter(|v| local(v)) {
                if moves {
                    // Moving a directory away moves what is inside it; a link to a
                    // protected file is the first step of editing it through the link.
                    for path in self.resolve(v) {
                        self.change(path, name == "mv", name);
                    }
                }
            }
        }
        let Some(dest) = dest else { return };
        for d in dest.iter().filter(|v| local(v)) {
            for dest_path in self.resolve(d) {
                let into_dir = target_dir.is_some()
                    || sources.len() > 1
                    || d.literal().is_some_and(|l| l.ends_with('/'))
                    || dest_path
                        .literal()
                        .is_some_and(|p| std::path::Path::new(&p).is_dir());
                if !into_dir || sources.is_empty() {
                    self.change(dest_path, false, name);
                    continue;
                }
                self.copy_into(&dest_path, &sources, name);
            }
        }
    }

    /// Each source copied into the directory `dest`: the file of its name there, or
    /// anything in it when the name is not known (or a directory's contents are copied).
    fn copy_into(&mut self, dest: &Value, sources: &[&Vec<Value>], name: &str) {
        for source in sources {
            for s in *source {
                let base = s
                    .literal()
                    .map(|l| {
                        l.trim_end_matches('/')
                            .rsplit('/')
                            .next()
                            .unwrap_or("")
                            .to_string()
                    })
                    .filter(|b| !b.is_empty() && b != "." && b != "..");
                match base {
                    Some(b) if !s.literal().is_some_and(|l| l.ends_with('/')) => {
                        let mut target = dest.clone();
                        target.push_text("/");
                        target.push_text(&b);
                        self.change(target, false, name);
                    }
                    // A directory's contents, or a name not known: anything in
                    // the destination.
                    _ => self.change(dest.clone(), true, name),
                }
            }
        }
    }

    fn tar(&mut self, args: &[Vec<Value>], lits: &[Option<String>]) {
        let mut extract = false;
        let mut archive: Option<&Vec<Value>> = None;
        let mut dir: Option<Value> = None;
        let mut i = 0;
        while i < args.len() {
            let a = lit_at(lits, i).unwrap_or_default();
            if a == "-C" || a == "--directory" {
                dir = args.get(i + 1).and_then(|v| v.first().cloned());
                i += 1;
            } else if let Some(d) = a.strip_prefix("--directory=") {
                dir = Some(Value::text(d));
            } else if a == "-f" || a == "--file" {
                archive = args.get(i + 1);
                i += 1;
            } else if a == "--extract" || a == "--get" {
                extract = true;
            } else if (i == 0 && !a.starts_with("--"))
                || (a.starts_with('-') && !a.starts_with("--"))
            {
                let letters = a.trim_start_matches('-');
                if letters.contains('x') {
                    extract = true;
                }
                if letters.ends_with('f') {
                    archive = args.get(i + 1);
                    i += 1;
                }
            }
            i += 1;
        }
        if extract {
            let target = match dir {
                Some(d) => self.resolve(&d),
                None => self
                    .cwds
                    .clone()
                    .into_iter()
                    .map(|c| c.map_or_else(Value::any, |c| Value::text(&c)))
                    .collect(),
            };
            for t in target {
                self.change(t, true, "tar");
            }
        } else if let Some(archive) = archive {
            for v in archive.clone() {
                if v.literal().as_deref() != Some("-") {
                    self.change_value(&v, false, "tar");
                }
            }
        }
    }

    fn git(&mut self, args: &[Vec<Value>], lits: &[Option<String>], argv: &[Vec<Value>]) {
        let mut i = 0;
        let saved = self.cwds.clone();
        while let Some(a) = lit_at(lits, i) {
            if a == "-C" {
                if let Some(dir) = args.get(i + 1).and_then(|v| v.first()) {
                    let dirs = self.resolve(dir);
                    self.cwds = dirs.iter().map(Value::literal).collect();
                }
                i += 2;
            } else if a == "-c" || a == "--git-dir" || a == "--work-tree" || a == "--namespace" {
                if a != "-c" {
                    self.change_arg(args.get(i + 1), true, "git");
                }
                i += 2;
            } else if a.starts_with('-') {
                i += 1;
            } else {
                break;
            }
        }
        let sub = lit_at(lits, i).unwrap_or_default();
        let reads = matches!(
            sub.as_str(),
            "status"
                | "log"
                | "diff"
                | "show"
                | "grep"
                | "ls-files"
                | "rev-parse"
                | "blame"
                | "describe"
                | "shortlog"
                | "cat-file"
                | "ls-tree"
                | "whatchanged"
                | "reflog"
                | "rev-list"
                | "for-each-ref"
                | "show-ref"
                | "version"
                | "help"
        );
        if !reads {
            let mut rest = vec![argv[0].clone()];
            rest.extend(args[i.min(args.len())..].iter().cloned());
            self.generic(&rest, "git", false);
        }
        self.cwds = saved;
    }

    /// A word's possible values.
    fn expand(&mut self, raw: &str) -> Vec<Value> {
        // `if=~/x`: bash expands a tilde after the `=` of a word that looks like
        // an assignment.
        if let Some((name, rest)) = raw.split_once("=~") {
            if !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit())
            {
                let tail = self.expand(&format!("~{rest}"));
                return tail
                    .into_iter()
                    .map(|t| {
                        let mut v = Value::text(&format!("{name}="));
                        v.extend(&t);
                        v
                    })
                    .collect();
            }
        }
        // Most words are plain text: nothing to expand, no parser needed.
        if !raw.is_empty()
            && !raw.contains([
                '$', '`', '\\', '\'', '"', '~', '*', '?', '[', '{', '(', '!', '@', '+',
            ])
        {
            return vec![Value::text(raw)];
        }
        let options = ParserOptions::default();
        let Some(Ok(pieces)) = guarded(|| word::parse(raw, &options)) else {
            return vec![Value::any()];
        };
        let mut out = vec![Value::default()];
        for piece in &pieces {
            self.piece(&piece.piece, &mut out, false);
            if out.len() > MAX_ALTERNATIVES {
                return vec![Value::any()];
            }
        }
        out
    }

    fn piece(&mut self, piece: &WordPiece, out: &mut Vec<Value>, quoted: bool) {
        let each = |out: &mut Vec<Value>, f: &dyn Fn(&mut Value)| out.iter_mut().for_each(f);
        match piece {
            WordPiece::Text(t) if quoted => each(out, &|v| v.push_text(t)),
            WordPiece::Text(t) => {
                let glob = unquoted_text(t);
                each(out, &|v| v.extend(&glob));
            }
            WordPiece::SingleQuotedText(t) => each(out, &|v| v.push_text(t)),
            WordPiece::AnsiCQuotedText(t) => {
                let decoded = ansi_c(t);
                each(out, &|v| v.push_text(&decoded));
            }
            WordPiece::EscapeSequence(s) => {
                let c: String = s.chars().skip(1).collect();
                let c = if c == "\n" { String::new() } else { c };
                each(out, &|v| v.push_text(&c));
            }
            WordPiece::DoubleQuotedSequence(seq) | WordPiece::GettextDoubleQuotedSequence(seq) => {
                for p in seq {
                    self.piece(&p.piece, out, true);
                }
            }
            WordPiece::TildeExpansion(t) => {
                let home = match t {
                    TildeExpr::Home => self.ctx.home.clone(),
                    TildeExpr::UserHome(u) if Some(u) == self.ctx.user.as_ref() => {
                        self.ctx.home.clone()
                    }
                    TildeExpr::UserHome(u) if u == "root" => Some("/root".to_string()),
                    TildeExpr::UserHome(u) if !u.is_empty() && !u.contains('/') => Some(format!(
                        "{}/{u}",
                        if cfg!(target_os = "macos") {
                            "/Users"
                        } else {
                            "/home"
                        }
                    )),
                    TildeExpr::WorkingDir => self.cwds.first().cloned().flatten(),
                    _ => None,
                };
                match home {
                    Some(h) => each(out, &|v| v.push_text(&h)),
                    None => each(out, &|v| v.push_any()),
                }
            }
            WordPiece::ParameterExpansion(p) => {
                let values = self.parameter(p);
                let mut next = Vec::new();
                for v in out.iter() {
                    for value in &values {
                        let mut v = v.clone();
                        v.extend(value);
                        next.push(v);
                    }
                }
                *out = next;
            }
            WordPiece::CommandSubstitution(code)
            | WordPiece::BackquotedCommandSubstitution(code) => {
                // It runs: what it changes counts. Its output is known only for the
                // simplest cases.
                let value = self.substitution(code);
                if let Some(foreign) = self.nested(code).and_then(|o| o.foreign()) {
                    self.fetched_word = Some(foreign);
                }
                // `bash -c "$(cat)"` runs what the command reads on its stdin.
                if matches!(
                    code.trim(),
                    "cat" | "cat -" | "cat /dev/stdin" | "</dev/stdin cat"
                ) {
                    if let Some(foreign) = self.pipe_stdin.as_ref().and_then(Stdin::foreign) {
                        self.fetched_word = Some(foreign);
                    }
                }
                each(out, &|v| v.extend(&value));
            }
            WordPiece::ArithmeticExpression(expr) => {
                // Command substitutions inside `$((…))` run.
                if expr.value.contains("$(") || expr.value.contains('`') {
                    self.nested(&expr.value);
                }
                each(out, &|v| v.push_any());
            }
        }
    }

    fn substitution(&mut self, code: &str) -> Value {
        let trimmed = code.trim();
        if trimmed == "pwd" {
            return match self.cwds.first().cloned().flatten() {
                Some(c) => Value::text(&c),
                None => Value::any(),
            };
        }
        // `mktemp -d`: a new name in the temporary directory (or the one given).
        if trimmed == "mktemp" || trimmed.starts_with("mktemp ") {
            let words: Vec<&str> = trimmed.split_ascii_whitespace().skip(1).collect();
            if words.iter().all(|w| {
                w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=X".contains(c))
            }) {
                let mut dir = self
                    .ctx
                    .env
                    .get("TMPDIR")
                    .cloned()
                    .unwrap_or_else(|| "/tmp".to_string());
                let mut template_dir: Option<String> = None;
                let mut i = 0;
                while i < words.len() {
                    let w = words[i];
                    if w == "-p" || w == "--tmpdir" {
                        dir = words.get(i + 1).map_or(dir, |d| (*d).to_string());
                        i += 1;
                    } else if let Some(d) = w
                        .strip_prefix("--tmpdir=")
                        .or_else(|| w.strip_prefix("-p").filter(|d| !d.is_empty()))
                    {
                        dir = d.to_string();
                    } else if !w.starts_with('-') && w.contains('/') {
                        template_dir = w.rsplit_once('/').map(|(d, _)| d.to_string());
                    }
                    i += 1;
                }
                let base = template_dir.unwrap_or(dir);
                if base.starts_with('/') && base.len() > 1 {
                    let mut v = Value::text(&format!("{}/", base.trim_end_matches('/')));
                    v.push_text("tmp.");
                    v.push_any();
                    return v;
                }
            }
        }
        // Only plain text: what is nested inside is looked at once, by the caller.
        if let Some(rest) = trimmed.strip_prefix("echo ").filter(|r| {
            !r.contains("$(") && !r.contains('`') && !r.contains(['|', ';', '&', '<', '>', '\n'])
        }) {
            if let [v] = self.expand(rest.trim()).as_slice() {
                return v.clone();
            }
        }
        Value::any()
    }

    fn parameter(&mut self, p: &ParameterExpr) -> Vec<Value> {
        let (parameter, default) = match p {
            ParameterExpr::Parameter { parameter, .. } => (parameter, None),
            ParameterExpr::UseDefaultValues {
                parameter,
                default_value,
                ..
            }
            | ParameterExpr::AssignDefaultValues {
                parameter,
                default_value,
                ..
            } => (parameter, default_value.as_deref()),
            _ => return vec![Value::any()],
        };
        let name = match parameter {
            Parameter::Named(n) => n.as_str(),
            _ => return vec![Value::any()],
        };
        if name == "PWD" {
            return self
                .cwds
                .iter()
                .map(|c| c.as_deref().map_or_else(Value::any, Value::text))
                .collect();
        }
        if let Some(values) = self.vars.get(name) {
            return values.clone();
        }
        if let Some(v) = self.ctx.env.get(name) {
            return vec![Value::text(v)];
        }
        if name == "HOME" {
            if let Some(h) = &self.ctx.home {
                return vec![Value::text(h)];
            }
        }
        match default {
            Some(d) => {
                let mut values = self.expand(d);
                values.push(Value::any());
                values
            }
            None => vec![Value::any()],
        }
    }

    /// Makes a value absolute against each directory the command may run in.
    fn resolve(&self, value: &Value) -> Vec<Value> {
        resolve_in(value, &self.cwds)
    }
}

/// Whether a `find` expression picks files by a test (`-name`, `-path`, `-mtime`,
/// …) rather than taking everything under its roots.
pub fn find_is_filtered(lits: &[Option<String>]) -> bool {
    lits.iter().flatten().any(|a| {
        matches!(
            a.as_str(),
            "-name"
                | "-iname"
                | "-path"
                | "-ipath"
                | "-wholename"
                | "-iwholename"
                | "-regex"
                | "-iregex"
                | "-newer"
                | "-mtime"
                | "-mmin"
                | "-atime"
                | "-amin"
                | "-ctime"
                | "-cmin"
                | "-size"
                | "-empty"
                | "-user"
                | "-group"
                | "-perm"
                | "-links"
                | "-samefile"
                | "-inum"
                | "-lname"
                | "-ilname"
                | "-nouser"
                | "-nogroup"
                | "-newermt"
                | "-used"
        )
    })
}

/// Makes a value absolute against each of `cwds`.
pub fn resolve_in(value: &Value, cwds: &[Option<String>]) -> Vec<Value> {
    if value.starts_with_text("/") || value.0.first() == Some(&Part::Any) {
        return vec![normalize(value)];
    }
    let mut out: Vec<Value> = Vec::new();
    for cwd in cwds {
        let mut v = cwd.as_deref().map_or_else(Value::any, Value::text);
        v.push_text("/");
        v.extend(value);
        let v = normalize(&v);
        if !out.contains(&v) {
            out.push(v);
        }
    }
    if out.is_empty() {
        out.push(Value::any());
    }
    out
}

/// The standard input of a command in a pipeline (or what a command prints).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stdin {
    Text(String),
    Unknown,
    /// What a download printed, named by the program that fetched it.
    Fetched(String),
    /// A payload decoded from base64, hex, … (`base64 -d`).
    Decoded,
    /// Paths a listing prints (`ls ~/.ssh/id_*`, `find ~/.aws -type f`).
    Listing(Vec<Value>),
}

impl Stdin {
    /// Code of this kind, when run, is code the analysis cannot see and that came
    /// from elsewhere: the network or an encoded blob.
    fn foreign(&self) -> Option<String> {
        match self {
            Stdin::Fetched(by) => Some(format!("{by} output")),
            Stdin::Decoded => Some("a decoded payload".to_string()),
            _ => None,
        }
    }
}

/// The words of one simple command, as they are expanded.
#[derive(Default)]
struct Words {
    argv: Vec<Vec<Value>>,
    assignments: Vec<(String, Vec<Value>)>,
    stdin: Option<Stdin>,
    /// Files its standard output is redirected to.
    outputs: Vec<Value>,
    /// `>(…)` process substitutions it writes to.
    output_subs: Vec<ast::SubshellCommand>,
}

/// The options of `cp`-like programs that take a value (the next word).
fn copy_valued_options(name: &str) -> &'static [&'static str] {
    match name {
        "rsync" => &[
            "-e",
            "--rsh",
            "-f",
            "--filter",
            "--exclude",
            "--include",
            "--exclude-from",
            "--include-from",
            "--files-from",
            "--password-file",
            "--log-file",
            "-B",
            "--backup-dir",
            "--suffix",
            "--chown",
            "--chmod",
            "-M",
        ],
        "scp" => &["-i", "-o", "-P", "-F", "-c", "-l", "-S", "-J"],
        "install" => &["-m", "-o", "-g", "-S", "--mode", "--owner", "--group", "-t"],
        _ => &["-t", "-S", "--suffix", "--target-directory"],
    }
}

fn lit_at(lits: &[Option<String>], i: usize) -> Option<String> {
    lits.get(i).cloned().flatten()
}

fn recursive_flag(lits: &[Option<String>], short: &[&str], long: &str) -> bool {
    lits.iter().flatten().any(|a| {
        a == long
            || (long.len() > 4
                && a.len() >= 5
                && long.starts_with(a.as_str())
                && a.starts_with("--"))
            || (a.starts_with('-')
                && !a.starts_with("--")
                && short.iter().any(|s| a.contains(s.trim_start_matches('-'))))
    })
}

/// Whether `text` has more than [`MAX_WORDS`] words outside heredoc bodies (a
/// heredoc's text is one word to the parser, however long).
fn too_many_words(text: &str) -> bool {
    if text.split_ascii_whitespace().nth(MAX_WORDS).is_none() {
        return false;
    }
    let mut words = 0;
    let mut heredoc_end: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some(end) = heredoc_end.first() {
            if line.trim_start_matches('\t') == end {
                heredoc_end.remove(0);
            }
            continue;
        }
        words += line.split_ascii_whitespace().count();
        if words > MAX_WORDS {
            return true;
        }
        // `<<EOF`, `<<-'EOF'`, `<< "EOF"`: the body starts on the next line.
        let mut rest = line;
        while let Some(at) = rest.find("<<") {
            rest = &rest[at + 2..];
            if rest.starts_with('<') {
                continue;
            }
            let word: String = rest
                .trim_start_matches('-')
                .trim_start()
                .trim_start_matches(['\'', '"', '\\'])
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-' || *c == '.')
                .collect();
            if !word.is_empty() {
                heredoc_end.push(word);
            }
        }
    }
    false
}

/// Runs the parser so that a panic in it cannot end the hook: the parser unwraps in
/// places that some inputs reach (a file descriptor number past `i32`, `~+N` past
/// `usize`), and a hook that crashes is one Codex lets through. `None`: it panicked,
/// and the text is judged as one that could not be parsed. The panic message is
/// kept off stderr, which Codex would show.
fn guarded<T>(parse: impl FnOnce() -> T) -> Option<T> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(parse));
    std::panic::set_hook(previous);
    result.ok()
}

/// How deep brackets and compound commands (`if`, `while`, `for`, `case`, …) nest in
/// `text`, quotes ignored (an over-count is harmless).
fn nesting(text: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    for word in text.split(|c: char| c.is_whitespace() || matches!(c, ';' | '&' | '|' | '(' | ')'))
    {
        match word {
            "if" | "while" | "until" | "for" | "case" | "select" => {
                depth += 1;
                max = max.max(depth);
            }
            "fi" | "done" | "esac" => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    let keywords = max;
    let (mut depth, mut max) = (0usize, 0usize);
    let mut in_backquote = false;
    for c in text.chars() {
        match c {
            '`' if in_backquote => {
                in_backquote = false;
                depth = depth.saturating_sub(1);
            }
            '(' | '{' | '[' | '`' => {
                in_backquote |= c == '`';
                depth += 1;
                max = max.max(depth);
            }
            ')' | '}' | ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max + keywords
}

/// The arguments as one command line, when every one is known.
fn join_literal(args: &[Vec<Value>]) -> Option<String> {
    let mut parts = Vec::new();
    for a in args {
        if a.len() != 1 {
            return None;
        }
        parts.push(a[0].literal()?);
    }
    Some(parts.join(" "))
}

/// Unquoted text: glob characters and brace expansions may stand for anything.
fn unquoted_text(text: &str) -> Value {
    let mut v = Value::default();
    let mut chars = text.chars().peekable();
    let mut buf = String::new();
    while let Some(c) = chars.next() {
        match c {
            '*' | '?' | '[' => {
                v.push_text(&buf);
                buf.clear();
                v.push_any();
                if c == '[' {
                    for d in chars.by_ref() {
                        if d == ']' {
                            break;
                        }
                    }
                }
            }
            '{' if text.contains(',') || text.contains("..") => {
                v.push_text(&buf);
                buf.clear();
                v.push_any();
                let mut depth = 1;
                for d in chars.by_ref() {
                    match d {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => buf.push(c),
        }
    }
    v.push_text(&buf);
    v
}

/// The text of a `$'…'` string.
fn ansi_c(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    let take = |chars: &mut std::iter::Peekable<std::str::Chars>, radix: u32, max: usize| {
        let mut digits = String::new();
        while digits.len() < max && chars.peek().is_some_and(|c| c.is_digit(radix)) {
            digits.push(chars.next().unwrap_or('0'));
        }
        u32::from_str_radix(&digits, radix)
            .ok()
            .and_then(char::from_u32)
    };
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('e' | 'E') => out.push('\u{1b}'),
            Some('a') => out.push('\u{7}'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('v') => out.push('\u{b}'),
            Some('x') => out.extend(take(&mut chars, 16, 2)),
            Some('u') => out.extend(take(&mut chars, 16, 4)),
            Some('U') => out.extend(take(&mut chars, 16, 8)),
            Some(d @ '0'..='7') => {
                let mut digits = d.to_string();
                while digits.len() < 3 && chars.peek().is_some_and(|c| c.is_digit(8)) {
                    digits.push(chars.next().unwrap_or('0'));
                }
                out.extend(
                    u32::from_str_radix(&digits, 8)
                        .ok()
                        .and_then(char::from_u32),
                );
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Resolves `.`, `..` and repeated `/` in the known leading part of a path.
pub fn normalize(value: &Value) -> Value {
    if let [Part::Any, Part::Text(rest)] = value.0.as_slice() {
        // Below an unknown directory, `.` and `..` lead somewhere just as unknown.
        let kept: Vec<&str> = rest
            .split('/')
            .filter(|p| !p.is_empty() && *p != "." && *p != "..")
            .collect();
        let mut v = Value::any();
        if !kept.is_empty() {
            v.push_text(&format!("/{}", kept.join("/")));
        }
        return v;
    }
    let Some(Part::Text(first)) = value.0.first() else {
        return value.clone();
    };
    if value.0.len() > 1 {
        // Only the directories before the first hole can be resolved.
        let (head, tail) = match first.rfind('/') {
            Some(i) => first.split_at(i + 1),
            None => return value.clone(),
        };
        let dir = normalize_text(head);
        let mut v = Value::text(&dir);
        if dir != "/" {
            v.push_text("/");
        }
        v.push_text(tail);
        v.0.extend(value.0[1..].iter().cloned());
        return v;
    }
    Value::text(&normalize_text(first))
}

fn normalize_text(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            home: Some("/nonexistent/home/dev".into()),
            cwd: Some("/nonexistent/home/dev/project".into()),
            ..Context::default()
        }
    }

    #[test]
    fn the_deepest_nesting_handed_to_the_parser_fits_a_small_stack() {
        // Test threads have 2 MiB of stack, a quarter of the hook's main thread.
        let depth = MAX_NESTING;
        let shapes = [
            format!("{}rm -rf x{}", "( ".repeat(depth), " )".repeat(depth)),
            format!("echo {}x{}", "$(echo ".repeat(depth), ")".repeat(depth)),
            format!("{} rm -rf x;{}", "{ ".repeat(depth), " }".repeat(depth)),
            format!("echo {}x{}", "\"$(echo ".repeat(depth), ")\"".repeat(depth)),
            format!(
                "{}rm x{}",
                "if true; then ".repeat(depth / 2),
                "; fi".repeat(depth / 2)
            ),
        ];
        for command in shapes {
            let analysis = analyze(&command, &ctx());
            assert!(
                analysis.unparsed || !analysis.changes.is_empty() || analysis.unknown_code,
                "{command}"
            );
        }
    }

    #[test]
    fn what_each_command_changes() {
        let changes = |command: &str| -> Vec<(String, bool)> {
            analyze(command, &ctx())
                .changes
                .iter()
                .map(|c| (c.target.display(), c.recursive))
                .collect()
        };
        let home = "/nonexistent/home/dev";
        assert_eq!(
            changes("cd ~/.codex && echo x > hooks.json"),
            [(format!("{home}/.codex/hooks.json"), false)]
        );
        assert_eq!(
            changes("rm -rf \"$D\""),
            [("*".to_string(), true), (format!("{home}/project"), false)]
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
        );
        assert_eq!(
            changes("cp a b /tmp/out"),
            [
                ("/tmp/out/a".to_string(), false),
                ("/tmp/out/b".to_string(), false)
            ]
        );
        assert_eq!(changes("cat ~/.bashrc | grep x"), []);
        assert_eq!(
            changes("X=~/a; Y=$X/b; touch \"$Y\""),
            [
                (format!("{home}/project"), false),
                (format!("{home}/a/b"), false)
            ]
        );
    }
}
