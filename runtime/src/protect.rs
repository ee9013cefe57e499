//! Protected paths: the files that switch the guard on (the Codex home, the
//! machine-wide policy, the runtime) and the shell startup files that shape every
//! hook's environment. A rule's `writes` list names them; a tool call matches when
//! it may change one of them, something inside one, or a directory holding one.
//!
//! Paths are compared after `~`, `$HOME`, `$CODEX_HOME`, `..` and every symlink that
//! already exists are resolved, on both sides, so `cd ~/.codex && … > hooks.json`,
//! `$CODEX_HOME/hooks.json` and an edit through `ln -s ~/.codex x` all name the same
//! file.

use crate::input::HookInput;
use crate::shell::{self, Analysis, Part, Value};
use regex_lite::Regex;
use serde_json::Value as Json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Files inside a protected directory that a pattern such as `$X/hooks.json` is
/// tried against.
const INNER_NAMES: &[&str] = &[
    "x",
    "hooks.json",
    "config.toml",
    "requirements.toml",
    "managed_config.toml",
    "codex-guard",
    "rules.toml",
];

/// Verbs that start the names of MCP tools that only read.
const READ_ONLY_MCP: &[&str] = &[
    "read",
    "get",
    "list",
    "search",
    "find",
    "stat",
    "view",
    "show",
    "describe",
    "query",
    "directory_tree",
    "tree",
    "count",
    "exists",
    "info",
    "lookup",
    "inspect",
];

/// Environment variables a protected path may be written with.
const ENV_NAMES: &[&str] = &[
    "HOME",
    "CODEX_HOME",
    "USER",
    "LOGNAME",
    "XDG_CONFIG_HOME",
    "ZDOTDIR",
];

/// What the hook knows about where things are.
#[derive(Debug, Clone, Default)]
pub struct PathContext {
    pub home: Option<String>,
    /// Codex homes: `$CODEX_HOME` (or `~/.codex`) and the one this install is in.
    pub codex_homes: Vec<String>,
    /// codex-guard's own files outside the Codex home: a managed prefix, the
    /// machine-wide config, a rules file or log directory configured elsewhere.
    pub guard_paths: Vec<String>,
    /// `/` (a temp dir in tests): where `/etc/...` specs are looked up.
    pub system_root: PathBuf,
    pub env: HashMap<String, String>,
    pub user: Option<String>,
}

impl PathContext {
    /// Reads what it needs from `env`.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>, system_root: &Path) -> PathContext {
        let mut vars = HashMap::new();
        for name in ENV_NAMES {
            if let Some(v) = env(name).filter(|v| !v.is_empty()) {
                vars.insert((*name).to_string(), v);
            }
        }
        let home = vars.get("HOME").cloned();
        let codex_home = vars
            .get("CODEX_HOME")
            .cloned()
            .or_else(|| home.as_ref().map(|h| format!("{h}/.codex")));
        PathContext {
            user: vars.get("USER").or_else(|| vars.get("LOGNAME")).cloned(),
            home,
            codex_homes: codex_home.into_iter().collect(),
            guard_paths: Vec::new(),
            system_root: system_root.to_path_buf(),
            env: vars,
        }
    }

    /// What the shell analysis is told about this machine.
    pub fn shell_context(&self, cwd: Option<&str>) -> shell::Context {
        shell::Context {
            home: self.home.clone(),
            cwd: cwd.map(str::to_string),
            env: self.env.clone(),
            user: self.user.clone(),
        }
    }

    /// The absolute paths a `writes` entry stands for (none when a variable it
    /// needs is unset).
    fn expand_spec(&self, spec: &str) -> Vec<String> {
        let spec = spec.trim();
        let with_rest = |bases: Vec<String>, rest: &str| -> Vec<String> {
            bases
                .into_iter()
                .map(|b| format!("{}{rest}", b.trim_end_matches('/')))
                .collect()
        };
        if spec == "$CODEX_GUARD" {
            return self.guard_paths.clone();
        }
        if let Some(rest) = spec.strip_prefix("$CODEX_HOME") {
            return with_rest(self.codex_homes.clone(), rest);
        }
        if let Some(rest) = spec
            .strip_prefix("~/")
            .map(|r| format!("/{r}"))
            .or_else(|| (spec == "~").then(String::new))
            .or_else(|| spec.strip_prefix("$HOME").map(str::to_string))
        {
            return with_rest(self.home.clone().into_iter().collect(), &rest);
        }
        if let Some(rest) = spec.strip_prefix('$') {
            let (name, rest) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let base = match name {
                "XDG_CONFIG_HOME" => self
                    .env
                    .get(name)
                    .cloned()
                    .or_else(|| self.home.as_ref().map(|h| format!("{h}/.config"))),
                "ZDOTDIR" => self.env.get(name).cloned().or_else(|| self.home.clone()),
                _ => self.env.get(name).cloned(),
            };
            return with_rest(base.into_iter().collect(), rest);
        }
        if spec.starts_with('/') {
            let rooted = self.system_root.join(spec.trim_start_matches('/'));
            return vec![rooted.to_string_lossy().into_owned()];
        }
        Vec::new()
    }
}

/// The protected paths of one rule, resolved once per event.
#[derive(Debug)]
pub struct Protected {
    /// Absolute, normalised.
    named: Vec<String>,
    /// `named`, each also as its real path when that differs: resolved on first use,
    /// as most commands change nothing and never need them.
    resolved: std::cell::OnceCell<Vec<String>>,
    /// Texts that name a protected path inside code handed to an interpreter.
    needles: Vec<String>,
    ctx: PathContext,
}

impl Protected {
    pub fn new<S: AsRef<str>>(specs: &[S], ctx: &PathContext) -> Protected {
        let mut named = Vec::new();
        let mut needles: Vec<String> = vec!["codex-guard".into()];
        for spec in specs.iter().map(AsRef::as_ref) {
            for path in ctx.expand_spec(spec) {
                let path = fold(&shell::normalize(&Value(vec![Part::Text(path)])).display());
                needles.extend(needles_for(&path, ctx.home.as_deref()));
                if !named.contains(&path) {
                    named.push(path);
                }
            }
            if spec.starts_with("$CODEX_HOME") {
                needles.push("CODEX_HOME".into());
            }
        }
        needles.sort();
        needles.dedup();
        Protected {
            named,
            resolved: std::cell::OnceCell::new(),
            needles,
            ctx: ctx.clone(),
        }
    }

    /// Every protected path, as named and as its real path.
    fn paths(&self) -> &[String] {
        self.resolved.get_or_init(|| {
            let mut paths = self.named.clone();
            for path in &self.named {
                if let Some(real) = real_path(path) {
                    if !paths.contains(&real) {
                        paths.push(real);
                    }
                }
            }
            paths
        })
    }

    /// Why this tool call may change a protected path, or `None`.
    pub fn check(&self, input: &HookInput) -> Option<String> {
        self.check_with(input, None)
    }

    /// [`Protected::check`] with the command's analysis already made.
    pub fn check_with(&self, input: &HookInput, analysis: Option<&Analysis>) -> Option<String> {
        let cwd = input.str("cwd").filter(|c| !c.is_empty());
        if let Some(analysis) = analysis {
            if let Some(why) = self.check_shell(analysis) {
                return Some(why);
            }
        } else if let Some(command) = input.shell_command() {
            let analysis = shell::analyze(&command, &self.ctx.shell_context(cwd));
            if let Some(why) = self.check_shell(&analysis) {
                return Some(why);
            }
        }
        self.check_tool_files(input)
    }

    /// Why the files a patch (also one carried by a shell command) or an MCP tool
    /// names may be a protected path.
    pub fn check_tool_files(&self, input: &HookInput) -> Option<String> {
        let cwd = input.str("cwd").filter(|c| !c.is_empty());
        if input.is_patch_tool() || input.is_shell_tool() {
            for path in input.patch_paths() {
                let target = self.absolute(&path, cwd);
                if let Some(hit) = self.hit(&target, false) {
                    return Some(format!("the patch changes {hit}"));
                }
            }
        }
        if input.is_mcp_tool() && !read_only_mcp(input.tool_name().unwrap_or_default()) {
            let mut strings = Vec::new();
            collect_strings(input.tool_input(), 0, &mut strings);
            for s in strings.iter().filter(|s| looks_like_path(s)) {
                let target = self.absolute(s, cwd);
                if let Some(hit) = self.hit(&target, true) {
                    return Some(format!(
                        "{} may change {hit}",
                        input.tool_name().unwrap_or("the tool")
                    ));
                }
            }
        }
        None
    }

    fn absolute(&self, path: &str, cwd: Option<&str>) -> Value {
        let path = path.replace('\\', "/");
        let text = if let Some(rest) = path.strip_prefix("~/") {
            match &self.ctx.home {
                Some(h) => format!("{h}/{rest}"),
                None => return Value(vec![Part::Any, Part::Text(format!("/{rest}"))]),
            }
        } else if path.starts_with('/') {
            path
        } else {
            match cwd {
                Some(c) => format!("{c}/{path}"),
                None => return Value(vec![Part::Any, Part::Text(format!("/{path}"))]),
            }
        };
        shell::normalize(&Value(vec![Part::Text(text)]))
    }

    /// Why a shell command may change a protected path.
    pub fn check_shell(&self, analysis: &Analysis) -> Option<String> {
        if let Some(why) = self.check_changes(&analysis.changes) {
            return Some(why);
        }
        let unknown_target = analysis.changes.iter().any(|c| c.target.is_unknown());
        if unknown_target || analysis.unknown_code {
            if let Some(hit) = analysis.mentions.iter().find_map(|m| self.hit(m, false)) {
                return Some(format!(
                    "the command names {hit} and changes or runs something that cannot be known before it runs"
                ));
            }
        }
        for code in &analysis.code {
            let code = fold(code);
            if let Some(needle) = self.needles.iter().find(|n| code.contains(n.as_str())) {
                let what = if analysis.unparsed {
                    "the command (which could not be parsed as shell)"
                } else {
                    "code handed to an interpreter"
                };
                return Some(format!("{what} names `{needle}`"));
            }
        }
        None
    }

    /// Why one of these changes may reach a protected path.
    pub fn check_changes<'a>(
        &self,
        changes: impl IntoIterator<Item = &'a shell::Change>,
    ) -> Option<String> {
        changes.into_iter().find_map(|change| {
            self.hit(&change.target, change.recursive)
                .map(|hit| format!("`{}` may change {hit}", change.program))
        })
    }

    /// The protected path `target` may be (or be inside, or, when `recursive`,
    /// hold).
    fn hit(&self, target: &Value, recursive: bool) -> Option<String> {
        if target.is_unknown() {
            return None;
        }
        if let Some(text) = target.literal() {
            let text = fold(&text);
            let variants = [Some(text.clone()), real_path(&text)];
            for t in variants.iter().flatten() {
                for p in self.paths() {
                    let inside = t == p || t.starts_with(&format!("{p}/")) || p == "/";
                    let holds = recursive && (t == "/" || p.starts_with(&format!("{t}/")));
                    if inside || holds {
                        return Some(p.clone());
                    }
                }
            }
            return None;
        }
        let regex = pattern_regex(target)?;
        for p in self.paths() {
            if regex.is_match(p)
                || INNER_NAMES
                    .iter()
                    .any(|n| regex.is_match(&format!("{p}/{n}")))
            {
                return Some(p.clone());
            }
            if recursive {
                let mut dir = Path::new(p).parent();
                while let Some(d) = dir {
                    if regex.is_match(&d.to_string_lossy()) {
                        return Some(p.clone());
                    }
                    dir = d.parent();
                }
            }
        }
        None
    }
}

/// Paths are compared ignoring case where the file system does.
fn fold(text: &str) -> String {
    if cfg!(any(target_os = "macos", windows)) {
        text.to_lowercase()
    } else {
        text.to_string()
    }
}

/// The path with every symlink that exists resolved: the longest existing
/// ancestor is canonicalised and the rest appended. `None` when it is the same.
fn real_path(path: &str) -> Option<String> {
    let mut existing = Path::new(path);
    let mut rest: Vec<&std::ffi::OsStr> = Vec::new();
    // One lookup per missing component, then one resolution of what exists (rather
    // than a failed resolution of every ancestor in turn).
    while std::fs::symlink_metadata(existing).is_err() {
        rest.push(existing.file_name()?);
        existing = existing.parent()?;
    }
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            let mut real = real;
            for part in rest.iter().rev() {
                real.push(part);
            }
            let real = fold(&real.to_string_lossy());
            return (real != path).then_some(real);
        }
        rest.push(existing.file_name()?);
        existing = existing.parent()?;
    }
}

fn pattern_regex(value: &Value) -> Option<Regex> {
    let mut re = String::from("^");
    for part in &value.0 {
        match part {
            Part::Text(t) => re.push_str(&regex_lite::escape(&fold(t))),
            Part::Any => re.push_str(".*"),
        }
    }
    re.push('$');
    Regex::new(&re).ok()
}

/// How code may spell a protected path: absolute, from `~` or `$HOME`, or as the
/// name relative to the home directory.
fn needles_for(path: &str, home: Option<&str>) -> Vec<String> {
    let mut out = vec![path.to_string()];
    if let Some(rel) =
        home.and_then(|h| path.strip_prefix(&format!("{}/", h.trim_end_matches('/'))))
    {
        out.push(format!("~/{rel}"));
        out.push(format!("$HOME/{rel}"));
        out.push(format!("${{HOME}}/{rel}"));
        if rel.starts_with('.') {
            out.push(rel.to_string());
        }
    }
    out.into_iter().map(|n| fold(&n)).collect()
}

fn read_only_mcp(tool_name: &str) -> bool {
    let tool = tool_name
        .strip_prefix("mcp__")
        .and_then(|r| r.split_once("__"))
        .map_or(tool_name, |(_, t)| t)
        .to_ascii_lowercase();
    READ_ONLY_MCP.iter().any(|v| tool.starts_with(v))
}

fn looks_like_path(s: &str) -> bool {
    !s.contains("://")
        && !s.contains('\n')
        && (s.starts_with('/') || s.starts_with('~') || s.starts_with('.') || s.contains('/'))
}

fn collect_strings(value: &Json, depth: usize, out: &mut Vec<String>) {
    if depth > 16 || out.len() > 256 {
        return;
    }
    match value {
        Json::String(s) => out.push(s.clone()),
        Json::Array(items) => items
            .iter()
            .for_each(|v| collect_strings(v, depth + 1, out)),
        Json::Object(map) => map
            .values()
            .for_each(|v| collect_strings(v, depth + 1, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Action, Rules};
    use serde_json::json;

    /// A home, a Codex home and a system root in a temp dir, with the shipped rules.
    struct World {
        dir: tempfile::TempDir,
        rules: Rules,
        paths: PathContext,
    }

    impl World {
        fn new() -> World {
            let dir = tempfile::tempdir().unwrap();
            let home = dir.path().join("home/dev");
            std::fs::create_dir_all(home.join(".codex/codex-guard/bin")).unwrap();
            std::fs::create_dir_all(home.join("project/src")).unwrap();
            std::fs::create_dir_all(dir.path().join("root/etc/codex")).unwrap();
            std::fs::write(home.join(".codex/hooks.json"), "{}").unwrap();
            std::fs::write(home.join(".bashrc"), "").unwrap();
            let h = home.to_string_lossy().into_owned();
            let env = move |k: &str| match k {
                "HOME" => Some(h.clone()),
                "USER" => Some("dev".into()),
                _ => None,
            };
            let paths = PathContext::from_env(&env, &dir.path().join("root"));
            // The guard-tamper pack alone, so what is checked is this analysis, not
            // another pack that happens to catch the same command.
            let others: String = crate::packs::Pack::ALL
                .iter()
                .filter(|p| p.name() != GUARD)
                .flat_map(|p| [p.name(), " = \"off\"\n"])
                .collect();
            let mut problems = Vec::new();
            let rules = Rules::parse(
                &format!("[packs]\n{GUARD} = \"deny\"\n{others}"),
                None,
                &mut problems,
            )
            .unwrap();
            assert!(problems.is_empty(), "{problems:?}");
            World { dir, rules, paths }
        }

        fn home(&self) -> String {
            self.dir
                .path()
                .join("home/dev")
                .to_string_lossy()
                .into_owned()
        }

        fn root(&self) -> String {
            self.dir.path().join("root").to_string_lossy().into_owned()
        }

        fn decide(&self, tool: &str, tool_input: &serde_json::Value) -> Option<String> {
            let input = crate::input::HookInput::parse(
                json!({
                    "hook_event_name": "PreToolUse",
                    "cwd": format!("{}/project", self.home()),
                    "tool_name": tool,
                    "tool_input": tool_input,
                })
                .to_string()
                .as_bytes(),
            )
            .unwrap();
            self.rules
                .evaluate(&input, &self.paths)
                .filter(|m| m.action == Action::Deny)
                .map(|m| m.id.split('/').next().unwrap_or_default().to_string())
        }

        fn bash(&self, command: &str) -> Option<String> {
            let command = command.replace("$ROOT", &self.root());
            self.decide("Bash", &json!({ "command": command }))
        }
    }

    const GUARD: &str = "guard-tamper";

    #[test]
    fn every_way_of_changing_the_guard_or_a_startup_file_from_the_shell_is_denied() {
        let w = World::new();
        let denied = [
            "rm -rf ~/.codex",
            "rm -rf ~",
            "rm -r -f $HOME",
            "\\rm -rf ~/.codex",
            "'rm' -rf ~/.codex",
            "r''m -r''f ~/.codex",
            "rm${IFS}-rf${IFS}~/.codex",
            "$'\\x72\\x6d' -rf ~/.codex",
            "rm -rf \\\n  ~/.codex",
            "mv ~/.codex /tmp/x",
            "mv ~/.codex/hooks.json ~/.codex/hooks.json.bak",
            "cd ~/.codex && echo '{}' > hooks.json",
            "cd ~/.codex; echo '{}' > hooks.json",
            "cd ~ && cd .codex && rm hooks.json",
            "cd /tmp && cd ~/.codex/.. && rm -rf .codex",
            "echo x > \"$HOME/.codex/hooks.json\"",
            "echo x > ${HOME}/.codex/config.toml",
            "D=~/.codex; rm -rf $D",
            "export D=$HOME/.codex && rm -rf \"$D/codex-guard\"",
            "X=rm; $X -rf ~/.codex",
            "rm -rf $(echo ~/.codex)",
            "echo ~/.codex | xargs rm -rf",
            "find ~ -name hooks.json -delete",
            "find ~/.codex -exec rm -f {} +",
            "bash -c 'rm -rf ~/.codex'",
            "sh -c \"echo x >> ~/.bashrc\"",
            "eval 'rm -rf ~/.codex'",
            "env FOO=1 rm -rf ~/.codex",
            "sudo -u dev rm -rf ~/.codex",
            "nohup timeout 5 rm -rf ~/.codex",
            "nice -n 5 chmod 000 ~/.codex/hooks.json",
            "chmod -R 000 ~",
            "chattr +i ~/.codex/config.toml",
            "echo 'export BASH_ENV=~/.x' >> ~/.bashrc",
            "printf 'exit 0\\n' > ~/.x && echo 'export BASH_ENV=~/.x' >> ~/.profile",
            "echo 'export AKTO_SYNC_MODE=false' >> ~/.zshenv",
            "echo 'set -gx BASH_ENV ~/.x' >> ~/.config/fish/config.fish",
            "tee -a ~/.bash_profile < /tmp/x",
            "cat /tmp/x | tee ~/.codex/hooks.json",
            "cp /tmp/evil.json ~/.codex/hooks.json",
            "cp /tmp/.bashrc ~/",
            "install -m 644 /tmp/x ~/.zshrc",
            "rsync -a /tmp/x/ ~/.codex/",
            "ln -s ~/.codex x",
            "ln -sf /tmp/evil ~/.bashrc",
            "perl -pi -e 's/true/false/' ~/.codex/config.toml",
            "sed -i 's/hooks = true/hooks = false/' ~/.codex/config.toml",
            "sed -i.bak -e s/a/b/ $HOME/.profile",
            "python3 -c \"open('/x','w')\" ; python3 -c \"import os; os.remove(os.path.expanduser('~/.codex/hooks.json'))\"",
            "python3 - <<'EOF'\nimport shutil; shutil.rmtree('/home/dev/.codex')\nEOF",
            "node -e \"require('fs').writeFileSync(process.env.HOME + '/.bashrc', 'x')\"",
            "dd if=/dev/zero of=$HOME/.codex/hooks.json",
            "truncate -s 0 ~/.codex/hooks.json",
            "touch ~/.codex/hooks.json",
            "codex-guard uninstall",
            "codex-guard setup --observe",
            "codex-guard setup --rules empty.toml",
            "codex-guard restore --latest --force",
            "/usr/local/bin/codex-guard self-update",
            "codex-guard backup --output ~/.codex/x.tgz",
            "codex-guard doctor --fix",
            "tar -C ~ -xf /tmp/home.tgz",
            "echo 'rm -rf ~/.codex' | bash",
            "bash <<'EOF'\nrm -rf ~/.codex\nEOF",
            "for f in ~/.bashrc ~/.profile; do echo x >> $f; done",
            "git -C ~/.codex checkout .",
            "rm -rf $ROOT/etc/codex",
            "echo x > $ROOT/etc/codex/requirements.toml",
            "echo x > $ROOT/etc/profile.d/evil.sh",
            "(cd ~/.codex && rm -f hooks.json)",
            "{ rm -rf ~/.codex; }",
            "if true; then rm -rf ~/.codex; fi",
            "rm -rf ~/.*",
            "rm -rf ~/.{codex,ssh}",
            "cat ~/.codex/config.toml > $(mktemp); rm -rf $(dirname ~/.codex/hooks.json)",
            "f() { rm -rf ~/.codex; }; f",
            "( ( rm -rf ~/.codex ) )",
            // Inputs on which the parser panics: judged on their text.
            "4444444444444<x; rm -rf ~/.codex",
            "echo ~+99999999999999999999999 > ~/.codex/hooks.json",
            "cd ~/.codex; rm -rf .",
            "cd /tmp || cd ~/.codex; echo x > hooks.json",
            "cd \"$(echo ~/.codex)\"; rm -rf .",
            "echo $(( $(rm -rf ~/.codex) + 1 ))",
        ];
        for command in denied {
            assert_eq!(w.bash(command).as_deref(), Some(GUARD), "{command:?}");
        }
    }

    #[test]
    fn reading_the_guard_and_everyday_commands_are_let_through() {
        let w = World::new();
        let allowed = [
            "cat ~/.codex/config.toml",
            "ls -la ~/.codex",
            "grep hooks ~/.codex/config.toml",
            "cp ~/.codex/config.toml /tmp/config-copy.toml",
            "codex-guard doctor",
            "codex-guard doctor --json",
            "codex-guard events",
            "codex-guard --help",
            "cd ~/.codex && ls && cat hooks.json",
            "rm -rf ./target",
            "rm -rf /tmp/build",
            "rm -rf ~/project/node_modules",
            "cargo build --release",
            "git status && git commit -am 'edit .bashrc docs'",
            "echo 'rm -rf ~/.codex'",
            "grep -r 'rm -rf ~/.codex' docs/",
            "cat > notes.md <<'EOF'\nrm -rf ~/.codex\nEOF",
            "x=$(mktemp) && echo hi > \"$x\" && rm -f \"$x\"",
            "python3 -c 'print(1)'",
            "mkdir -p ~/project/build && touch ~/project/build/x",
            "cp README.md ~/project/docs/",
            "source ~/.bashrc && echo ok",
            "find . -name '*.rs' -exec grep -l foo {} +",
            "cd ~ && ls",
            "cd /tmp/build; rm -rf .",
            "cd build && rm -rf ./out",
        ];
        for command in allowed {
            assert_eq!(w.bash(command), None, "{command:?}");
        }
    }

    #[test]
    fn a_symlink_that_exists_leads_to_the_protected_file() {
        let w = World::new();
        let link = w.dir.path().join("home/dev/project/cfg");
        std::os::unix::fs::symlink(w.dir.path().join("home/dev/.codex"), &link).unwrap();
        assert_eq!(w.bash("echo x > cfg/hooks.json").as_deref(), Some(GUARD));
        assert_eq!(w.bash("rm -rf cfg/").as_deref(), Some(GUARD));
        let patch = "*** Begin Patch\n*** Update File: cfg/hooks.json\n@@\n-{}\n+{\"hooks\":{}}\n*** End Patch\n";
        assert_eq!(
            w.decide("apply_patch", &json!({ "command": patch }))
                .as_deref(),
            Some(GUARD)
        );
    }

    #[test]
    fn codex_home_from_the_environment_is_protected_wherever_it_is() {
        let mut w = World::new();
        let elsewhere = w.dir.path().join("elsewhere/codex");
        std::fs::create_dir_all(&elsewhere).unwrap();
        let e = elsewhere.to_string_lossy().into_owned();
        w.paths.env.insert("CODEX_HOME".into(), e.clone());
        w.paths.codex_homes = vec![e.clone()];
        assert_eq!(w.bash("rm -rf $CODEX_HOME").as_deref(), Some(GUARD));
        assert_eq!(
            w.bash(&format!("echo x > {e}/hooks.json")).as_deref(),
            Some(GUARD)
        );
        assert_eq!(
            w.bash("echo x > \"$CODEX_HOME/config.toml\"").as_deref(),
            Some(GUARD)
        );
        assert_eq!(w.bash("cat $CODEX_HOME/config.toml"), None);
    }

    #[test]
    fn patches_and_mcp_file_tools_that_change_protected_files_are_denied() {
        let w = World::new();
        for file in ["~/.zshenv", "../.bashrc", "../.codex/hooks.json"] {
            let patch =
                format!("*** Begin Patch\n*** Update File: {file}\n@@\n-a\n+b\n*** End Patch\n");
            let patch = patch.replace('~', &w.home());
            assert_eq!(
                w.decide("apply_patch", &json!({ "command": patch }))
                    .as_deref(),
                Some(GUARD),
                "{file}"
            );
        }
        let hooks = format!("{}/.codex/hooks.json", w.home());
        assert_eq!(
            w.decide(
                "mcp__fs__write_file",
                &json!({"path": hooks, "content": "{}"})
            )
            .as_deref(),
            Some(GUARD)
        );
        assert_eq!(
            w.decide(
                "mcp__fs__move_file",
                &json!({"source": format!("{}/.codex", w.home()), "destination": "/tmp/x"})
            )
            .as_deref(),
            Some(GUARD)
        );
        assert_eq!(
            w.decide("mcp__fs__read_text_file", &json!({"path": hooks})),
            None
        );
        assert_eq!(
            w.decide(
                "mcp__fs__write_file",
                &json!({"path": "src/main.rs", "content": "x"})
            ),
            None
        );
    }

    #[test]
    fn a_command_too_deep_to_parse_is_judged_on_its_text() {
        let w = World::new();
        let deep = format!("{}rm -rf ~/.codex{}", "(".repeat(5000), ")".repeat(5000));
        assert_eq!(w.bash(&deep).as_deref(), Some(GUARD));
        let deep_harmless = format!("{}echo hi{}", "(".repeat(5000), ")".repeat(5000));
        assert_eq!(w.bash(&deep_harmless), None);
        // Compound commands nest without brackets.
        let deep_ifs = format!(
            "{}rm -rf ~/.codex{}",
            "if true; then ".repeat(20_000),
            "; fi".repeat(20_000)
        );
        assert_eq!(w.bash(&deep_ifs).as_deref(), Some(GUARD));
        // Command substitutions inside command substitutions: looked at once each.
        let nested = format!("echo {}x{}", "$(echo ".repeat(40), ")".repeat(40));
        assert_eq!(w.bash(&nested), None);
        let nested = format!(
            "echo {}~/.codex{} > x; rm -rf \"$(echo ~/.codex)\"",
            "$(echo ".repeat(40),
            ")".repeat(40)
        );
        assert_eq!(w.bash(&nested).as_deref(), Some(GUARD));
        // More commands than are looked at: the rest is judged on its text.
        let many = format!("{}rm -rf ~/.codex", "true; ".repeat(10_000));
        assert_eq!(w.bash(&many).as_deref(), Some(GUARD));
    }
}
