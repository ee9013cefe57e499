//! The event Codex sends on stdin, read tolerantly: only `hook_event_name` is
//! required, every other field is optional, unknown fields are kept, and
//! `tool_input` stays the raw JSON value so it is forwarded untouched. The views
//! rules match on (shell command, patched files, MCP arguments) are derived here.

use serde_json::{Map, Value};
use std::time::Instant;

/// Largest event accepted on stdin; anything bigger is not a Codex event.
pub const MAX_INPUT_BYTES: usize = 64 * 1024 * 1024;

/// Tool names under which Codex runs a shell command: `Bash` is what hooks see in
/// Codex 0.169; the others are the names its shell tools have had or have inside.
pub const SHELL_TOOLS: &[&str] = &[
    "Bash",
    "shell",
    "shell_command",
    "exec_command",
    "local_shell",
    "unified_exec",
    "container.exec",
];

/// Keys of a tool input whose string value (or list of strings) names a file.
const PATH_KEYS: &[&str] = &["path", "file_path", "filePath", "filename", "paths"];

/// Patch headers that name the file a patch touches (Codex's `apply_patch` format).
const PATCH_HEADERS: &[&str] = &[
    "*** Add File:",
    "*** Update File:",
    "*** Delete File:",
    "*** Move to:",
];

/// How deep into a tool input path keys are looked for; MCP inputs are shallow.
const MAX_PATH_DEPTH: usize = 8;

#[derive(Debug, Clone)]
pub struct HookInput {
    pub event: String,
    pub raw: Map<String, Value>,
}

impl HookInput {
    /// Parses stdin's bytes. The error is a one-line reason for the log. Nesting
    /// deeper than [`MAX_NESTING`] never makes it fail: see [`flatten_deep`].
    pub fn parse(bytes: &[u8]) -> Result<HookInput, String> {
        if bytes.len() > MAX_INPUT_BYTES {
            return Err(format!(
                "stdin is larger than {} MiB",
                MAX_INPUT_BYTES / 1024 / 1024
            ));
        }
        let text = std::str::from_utf8(bytes).map_err(|e| format!("stdin is not UTF-8: {e}"))?;
        if text.trim().is_empty() {
            return Err("stdin is empty".into());
        }
        let text = flatten_deep(text);
        let value: Value =
            serde_json::from_str(&text).map_err(|e| format!("stdin is not JSON: {e}"))?;
        let Value::Object(raw) = value else {
            return Err("stdin is JSON but not an object".into());
        };
        let event = match raw.get("hook_event_name") {
            Some(Value::String(name)) if !name.is_empty() => name.clone(),
            _ => return Err("the event has no hook_event_name".into()),
        };
        Ok(HookInput { event, raw })
    }

    /// What can be read from stdin that [`HookInput::parse`] refused, so the local
    /// rules still see it: the top-level `hook_event_name`, `tool_name`, `session_id`,
    /// `turn_id` and `cwd` strings, the string values of path keys at any depth, the
    /// tool input's `command` (else the whole text) as its command, and the whole
    /// text (lossily decoded) as `raw`. `None` when not even the event's name is found.
    pub fn lenient(bytes: &[u8]) -> Option<HookInput> {
        let bytes = &bytes[..bytes.len().min(MAX_INPUT_BYTES)];
        let text = String::from_utf8_lossy(bytes);
        let found = scan_strings(&text);
        let top = |key: &str| {
            found
                .iter()
                .find(|(depth, k, _)| *depth == 1 && k == key)
                .map(|(_, _, v)| v.clone())
        };
        let event = top("hook_event_name").filter(|e| !e.is_empty())?;
        let mut raw = Map::new();
        raw.insert("hook_event_name".into(), Value::String(event.clone()));
        for key in ["tool_name", "session_id", "turn_id", "cwd"] {
            if let Some(v) = top(key) {
                raw.insert(key.into(), Value::String(v));
            }
        }
        let paths: Vec<Value> = found
            .iter()
            .filter(|(depth, k, _)| *depth > 1 && PATH_KEYS.contains(&k.as_str()))
            .map(|(_, _, v)| Value::String(v.clone()))
            .collect();
        let command = found
            .iter()
            .find(|(depth, k, _)| *depth == 2 && k == "command")
            .map_or_else(|| text.to_string(), |(_, _, v)| v.clone());
        let mut tool_input = Map::new();
        tool_input.insert("command".into(), Value::String(command));
        tool_input.insert("paths".into(), Value::Array(paths));
        tool_input.insert("raw".into(), Value::String(text.into_owned()));
        raw.insert("tool_input".into(), Value::Object(tool_input));
        Some(HookInput { event, raw })
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        self.raw.get(key).and_then(Value::as_str)
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.raw.get(key).filter(|v| !v.is_null())
    }

    pub fn tool_name(&self) -> Option<&str> {
        self.str("tool_name").filter(|s| !s.is_empty())
    }

    /// The raw tool input (`null` when absent).
    pub fn tool_input(&self) -> &Value {
        self.raw.get("tool_input").unwrap_or(&Value::Null)
    }

    /// The text a rule or a person would call "the command": `tool_input.command`
    /// when it is a string (Bash, `apply_patch`), else the input's JSON.
    pub fn command_text(&self) -> Option<String> {
        match self.tool_input() {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            Value::Object(map) => match map.get("command").or_else(|| map.get("cmd")) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Array(parts)) if parts.iter().all(Value::is_string) => Some(
                    parts
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                _ => Some(Value::Object(map.clone()).to_string()),
            },
            other => Some(other.to_string()),
        }
    }

    pub fn is_shell_tool(&self) -> bool {
        self.tool_name().is_some_and(|t| SHELL_TOOLS.contains(&t))
    }

    pub fn is_patch_tool(&self) -> bool {
        self.tool_name()
            .is_some_and(|t| t.eq_ignore_ascii_case("apply_patch"))
    }

    /// `mcp__<server>__<tool>`, the name Codex gives every MCP tool.
    pub fn is_mcp_tool(&self) -> bool {
        self.tool_name()
            .and_then(|t| t.strip_prefix("mcp__"))
            .and_then(|rest| rest.split_once("__"))
            .is_some_and(|(server, tool)| !server.is_empty() && !tool.is_empty())
    }

    /// The command of a shell tool (`command` or `cmd`, a string or an argv joined
    /// with spaces); `None` for every other tool, so a rule on commands never fires
    /// on a patch or an MCP call that merely contains the same text.
    pub fn shell_command(&self) -> Option<String> {
        if !self.is_shell_tool() {
            return None;
        }
        match self.tool_input() {
            Value::String(s) => Some(s.clone()),
            Value::Object(map) => match map.get("command").or_else(|| map.get("cmd"))? {
                Value::String(s) => Some(s.clone()),
                // An argv (`["bash", "-lc", "rm -rf /"]`): quoted as the shell would
                // need it, so its words stay words (`bash -lc 'rm -rf /'`).
                Value::Array(parts) => {
                    let words: Vec<&str> = parts.iter().filter_map(Value::as_str).collect();
                    Some(shlex::try_join(words.iter().copied()).unwrap_or_else(|_| words.join(" ")))
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// The compact JSON of an MCP tool's arguments, in the order Codex sent them.
    pub fn mcp_arguments(&self) -> Option<String> {
        self.is_mcp_tool().then(|| self.tool_input().to_string())
    }

    /// The files an `apply_patch` call names, as written in the patch. The patch is
    /// the input itself or its `command`, `input` or `patch` string; a shell command
    /// that carries a patch (`apply_patch <<'EOF'`) counts too.
    pub fn patch_paths(&self) -> Vec<String> {
        let text = if self.is_patch_tool() {
            match self.tool_input() {
                Value::String(s) => Some(s.clone()),
                Value::Object(map) => ["command", "input", "patch"]
                    .iter()
                    .find_map(|k| map.get(*k).and_then(Value::as_str))
                    .map(str::to_string),
                _ => None,
            }
        } else {
            self.shell_command()
                .filter(|c| c.contains("*** Begin Patch"))
        };
        text.map(|t| {
            parse_patch_paths(&t)
                .into_iter()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
    }

    /// Every file the tool call names: the patch's files and the string values of
    /// `path`, `file_path`, `filePath`, `filename` and `paths` anywhere in the input.
    /// Relative paths are made absolute against the event's `cwd`; `.` and `..` are
    /// resolved lexically and `\` becomes `/`, so one regex fits every spelling.
    pub fn file_paths(&self) -> Vec<String> {
        let mut raw = self.patch_paths();
        collect_path_fields(self.tool_input(), 0, &mut raw);
        let cwd = self.str("cwd").filter(|c| !c.is_empty());
        let mut paths: Vec<String> = Vec::with_capacity(raw.len());
        for path in raw {
            let path = absolute_path(cwd, &path);
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
        paths
    }
}

/// Containers nested deeper than this are kept as their JSON text (a string value),
/// below `serde_json`'s recursion limit (128); real events are a few levels deep.
pub const MAX_NESTING: usize = 100;

/// `text` with every object or array nested deeper than [`MAX_NESTING`] replaced by
/// a string holding its JSON text. A tool input nested thousands of levels deep
/// then parses like any other (the rules and Akto still see its text), and nothing
/// after parsing recurses deeper than that. One pass, no recursion; the text is
/// returned as is when nothing is that deep. Malformed JSON stays malformed.
pub fn flatten_deep(text: &str) -> std::borrow::Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0; // bytes of `text` already in `out`
    let mut depth = 0usize;
    let mut deep_start = None;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth == MAX_NESTING + 1 {
                    deep_start = Some(i);
                }
            }
            b'}' | b']' => {
                if depth == MAX_NESTING + 1 {
                    if let Some(start) = deep_start.take() {
                        let out = out.get_or_insert_with(|| String::with_capacity(text.len() + 64));
                        out.push_str(&text[copied..start]);
                        // Serializing a string cannot fail.
                        out.push_str(&Value::String(text[start..=i].to_string()).to_string());
                        copied = i + 1;
                    }
                }
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
    }
    match out {
        Some(mut out) => {
            out.push_str(&text[copied..]);
            std::borrow::Cow::Owned(out)
        }
        None => std::borrow::Cow::Borrowed(text),
    }
}

/// Every string value of an object key in `text`, as `(depth, key, value)`, where
/// depth 1 is the top-level object; read without recursion and without needing the
/// JSON to be complete or valid.
fn scan_strings(text: &str) -> Vec<(usize, String, String)> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut depth = 0usize;
    let mut key: Option<&str> = None;
    let mut after_colon = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let start = i + 1;
                let mut j = start;
                let mut escaped = false;
                while j < bytes.len() {
                    match bytes[j] {
                        _ if escaped => escaped = false,
                        b'\\' => escaped = true,
                        b'"' => break,
                        _ => {}
                    }
                    j += 1;
                }
                let s = &text[start..j.min(bytes.len())];
                if after_colon {
                    if let Some(k) = key.take() {
                        found.push((depth, unescape(k), unescape(s)));
                    }
                    after_colon = false;
                } else {
                    key = Some(s);
                }
                i = j + 1;
                continue;
            }
            b':' => after_colon = key.is_some(),
            b'{' | b'[' => {
                depth += 1;
                key = None;
                after_colon = false;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                key = None;
                after_colon = false;
            }
            b',' => {
                key = None;
                after_colon = false;
            }
            b if b.is_ascii_whitespace() => {}
            _ => {
                if after_colon {
                    key = None;
                    after_colon = false;
                }
            }
        }
        i += 1;
    }
    found
}

/// The text of a JSON string literal's contents, unescaped (as is when invalid).
fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    serde_json::from_str(&format!("\"{s}\"")).unwrap_or_else(|_| s.to_string())
}

/// The paths named by the headers of an `apply_patch` text, in order.
pub fn parse_patch_paths(patch: &str) -> Vec<&str> {
    patch
        .lines()
        .filter_map(|line| {
            let line = line.trim_start();
            PATCH_HEADERS
                .iter()
                .find_map(|header| line.strip_prefix(header))
                .map(str::trim)
        })
        .filter(|path| !path.is_empty())
        .collect()
}

fn collect_path_fields(value: &Value, depth: usize, out: &mut Vec<String>) {
    if depth > MAX_PATH_DEPTH {
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match value {
                    Value::String(s) if PATH_KEYS.contains(&key.as_str()) && !s.is_empty() => {
                        out.push(s.clone());
                    }
                    Value::Array(items) if PATH_KEYS.contains(&key.as_str()) => out.extend(
                        items
                            .iter()
                            .filter_map(Value::as_str)
                            .filter(|s| !s.is_empty())
                            .map(str::to_string),
                    ),
                    _ => collect_path_fields(value, depth + 1, out),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_path_fields(item, depth + 1, out);
            }
        }
        _ => {}
    }
}

/// `path` joined to `cwd` unless it is already absolute (`/x`, `C:/x`, `~/x`), with
/// `/` separators and `.`/`..` resolved without touching the file system.
fn absolute_path(cwd: Option<&str>, path: &str) -> String {
    let path = path.replace('\\', "/");
    let is_absolute = path.starts_with('/')
        || path.starts_with('~')
        || (path.as_bytes().get(1) == Some(&b':') && path.as_bytes()[0].is_ascii_alphabetic());
    let joined = match cwd {
        Some(cwd) if !is_absolute => format!("{}/{path}", cwd.replace('\\', "/")),
        _ => path,
    };
    let (root, rest) = match joined.find('/') {
        Some(0) => ("/", &joined[1..]),
        // `C:`, `~` or `~user`: a root that `..` cannot climb above.
        Some(i) if joined[..i].ends_with(':') || joined.starts_with('~') => {
            (&joined[..=i], &joined[i + 1..])
        }
        _ => ("", joined.as_str()),
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in rest.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if !root.is_empty() => {}
            _ => parts.push(part),
        }
    }
    let mut out = String::with_capacity(joined.len());
    out.push_str(root);
    out.push_str(&parts.join("/"));
    if out.is_empty() {
        out.push('.');
    }
    out
}

/// Reads all of stdin (at most one byte past [`MAX_INPUT_BYTES`]), giving up at
/// `deadline` so a writer that never closes the pipe cannot hang the hook.
#[cfg(unix)]
pub fn read_stdin(deadline: Instant) -> Result<Vec<u8>, String> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    use rustix::io::Errno;
    use std::os::fd::AsFd;
    let stdin = std::io::stdin();
    let fd = stdin.as_fd();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let late = || Err("stdin was not closed before the deadline".to_string());
    loop {
        let wait = deadline.saturating_duration_since(Instant::now());
        if wait.is_zero() {
            return late();
        }
        let timeout = Timespec::try_from(wait).ok();
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        match poll(&mut fds, timeout.as_ref()) {
            Ok(0) => continue,
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(format!("cannot read stdin: {e}")),
        }
        match rustix::io::read(fd, &mut chunk) {
            Ok(0) => return Ok(buf),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                // Larger than MAX_INPUT_BYTES: parse refuses it, the lenient reading
                // still looks at its beginning.
                if buf.len() > MAX_INPUT_BYTES {
                    buf.truncate(MAX_INPUT_BYTES + 1);
                    return Ok(buf);
                }
            }
            Err(Errno::INTR | Errno::AGAIN) => {}
            Err(e) => return Err(format!("cannot read stdin: {e}")),
        }
    }
}

/// Reads stdin to its end, unless it stays open past `deadline`.
#[cfg(not(unix))]
pub fn read_stdin(deadline: Instant) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let result = std::io::stdin()
            .lock()
            .take(MAX_INPUT_BYTES as u64 + 1)
            .read_to_end(&mut buf)
            .map(|_| buf);
        let _ = tx.send(result);
    });
    let wait = deadline.saturating_duration_since(Instant::now());
    match rx.recv_timeout(wait) {
        // Larger than MAX_INPUT_BYTES: parse refuses it, the lenient reading still
        // looks at its beginning.
        Ok(Ok(buf)) => Ok(buf),
        Ok(Err(e)) => Err(format!("cannot read stdin: {e}")),
        Err(_) => Err("stdin was not closed before the deadline".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            &b""[..],
            b"   ",
            b"\xff\xfe",
            b"[1,2]",
            b"{\"a\":1}",
            b"{\"hook_event_name\":7}",
            b"{not json",
        ] {
            assert!(HookInput::parse(bad).is_err(), "{bad:?}");
        }
    }

    /// `{"hook_event_name":"PreToolUse",...,"tool_input":{"path":P,"pad":[[...]]}}`
    /// with `levels` nested arrays.
    fn deep_mcp_write(levels: usize) -> Vec<u8> {
        format!(
            r#"{{"hook_event_name":"PreToolUse","session_id":"s","cwd":"/w","tool_name":"mcp__fs__write_file","tool_input":{{"path":"~/.codex/hooks.json","pad":{}1{}}}}}"#,
            "[".repeat(levels),
            "]".repeat(levels)
        )
        .into_bytes()
    }

    #[test]
    fn nesting_at_any_depth_parses_with_deep_parts_kept_as_text() {
        for levels in [10, 97, 98, 99, 126, 1000, 100_000] {
            let input = HookInput::parse(&deep_mcp_write(levels)).unwrap();
            assert_eq!(input.file_paths(), ["~/.codex/hooks.json"], "{levels}");
            let arguments = input.mcp_arguments().unwrap();
            assert_eq!(arguments.matches('1').count(), 1, "{levels}");
            // Up to the limit the structure is kept as is; below it, as text.
            let mut pad = &input.tool_input()["pad"];
            for _ in 1..(MAX_NESTING - 2).min(levels) {
                pad = &pad[0];
            }
            if levels + 2 <= MAX_NESTING {
                assert!(pad.is_array(), "{levels}: {pad}");
            } else {
                assert!(pad[0].is_string(), "{levels}: {pad}");
            }
        }
        let text = std::str::from_utf8(&deep_mcp_write(MAX_NESTING))
            .unwrap()
            .to_string();
        // `{` and `[` inside strings do not count.
        let tricky = text.replace("~/.codex", "[[[{\\\"[~/.codex");
        let input = HookInput::parse(tricky.as_bytes()).unwrap();
        assert_eq!(input.file_paths(), ["/w/[[[{\"[~/.codex/hooks.json"]);
        assert!(matches!(
            flatten_deep("{\"a\":[1]}"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn an_unparsable_event_is_read_leniently() {
        let mut bytes = deep_mcp_write(10);
        bytes.truncate(bytes.len() - 3); // malformed
        assert!(HookInput::parse(&bytes).is_err());
        let input = HookInput::lenient(&bytes).unwrap();
        assert_eq!(input.event, "PreToolUse");
        assert_eq!(input.tool_name(), Some("mcp__fs__write_file"));
        assert_eq!(input.str("cwd"), Some("/w"));
        assert_eq!(input.file_paths(), ["~/.codex/hooks.json"]);
        assert!(input.mcp_arguments().unwrap().contains("[[[[1"));
        // A shell command's own text, unescaped; keys below the top level are not the event's.
        let bash = br#"{"tool_input":{"command":"rm -rf \"$HOME\"","hook_event_name":"Stop"},"hook_event_name":"PreToolUse","tool_name":"Bash" "#;
        let input = HookInput::lenient(bash).unwrap();
        assert_eq!(input.event, "PreToolUse");
        assert_eq!(input.shell_command().as_deref(), Some("rm -rf \"$HOME\""));
        assert!(HookInput::lenient(b"\xff{\"tool_name\":\"Bash\"").is_none());
        let too_big = vec![b' '; MAX_INPUT_BYTES + 1];
        assert!(HookInput::parse(&too_big)
            .unwrap_err()
            .contains("larger than"));
    }

    #[test]
    fn unknown_fields_and_raw_tool_input_are_kept() {
        let input = HookInput::parse(
            br#"{"hook_event_name":"PreToolUse","tool_name":"mcp__gh__create_issue",
                 "tool_input":{"title":"x","labels":["a"]},"future_field":{"x":1}}"#,
        )
        .unwrap();
        assert_eq!(input.event, "PreToolUse");
        assert_eq!(input.tool_input()["labels"][0], "a");
        assert!(input.raw.contains_key("future_field"));
        assert_eq!(
            input.command_text().unwrap(),
            r#"{"title":"x","labels":["a"]}"#
        );
    }

    #[test]
    fn command_text_of_bash_is_the_command() {
        let input = HookInput::parse(
            br#"{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"ls -la"}}"#,
        )
        .unwrap();
        assert_eq!(input.command_text().as_deref(), Some("ls -la"));
    }

    fn event(json: &serde_json::Value) -> HookInput {
        HookInput::parse(json.to_string().as_bytes()).unwrap()
    }

    const PATCH: &str = "*** Begin Patch
*** Add File: docs/new.md
+# New
+*** Add File: not/a/header.md
*** Update File: src/lib.rs
*** Move to: src/core.rs
@@ fn main() {
-    old();
+    new();
*** Delete File: /home/u/.ssh/authorized_keys
*** End Patch
";

    #[test]
    fn patch_headers_name_every_file_and_content_lines_do_not() {
        assert_eq!(
            parse_patch_paths(PATCH),
            [
                "docs/new.md",
                "src/lib.rs",
                "src/core.rs",
                "/home/u/.ssh/authorized_keys"
            ]
        );
        assert!(parse_patch_paths("*** Begin Patch\n*** Add File:   \n*** End Patch").is_empty());
    }

    #[test]
    fn the_patch_is_found_wherever_codex_puts_it() {
        for tool_input in [
            serde_json::json!({ "command": PATCH }),
            serde_json::json!({ "input": PATCH }),
            serde_json::json!(PATCH),
        ] {
            let input = event(&serde_json::json!({
                "hook_event_name": "PreToolUse", "tool_name": "apply_patch",
                "tool_input": tool_input
            }));
            assert_eq!(input.patch_paths().len(), 4, "{tool_input}");
            assert_eq!(input.shell_command(), None, "a patch is not a command");
        }
        let heredoc = format!("apply_patch <<'EOF'\n{PATCH}EOF\n");
        let shell = event(&serde_json::json!({
            "hook_event_name": "PreToolUse", "tool_name": "Bash",
            "tool_input": { "command": heredoc }
        }));
        assert_eq!(shell.patch_paths()[0], "docs/new.md");
        assert!(bash("echo '*** Add File: x'").patch_paths().is_empty());
    }

    fn bash(command: &str) -> HookInput {
        event(&serde_json::json!({
            "hook_event_name": "PreToolUse", "tool_name": "Bash",
            "tool_input": { "command": command }
        }))
    }

    #[test]
    fn file_paths_are_absolute_normalised_and_include_path_fields() {
        let patch = event(&serde_json::json!({
            "hook_event_name": "PreToolUse", "tool_name": "apply_patch", "cwd": "/home/u/proj",
            "tool_input": { "command": PATCH.replace("docs/new.md", "./docs/../../.codex/hooks.json") }
        }));
        assert_eq!(
            patch.file_paths(),
            [
                "/home/u/.codex/hooks.json",
                "/home/u/proj/src/lib.rs",
                "/home/u/proj/src/core.rs",
                "/home/u/.ssh/authorized_keys"
            ]
        );
        let mcp = event(&serde_json::json!({
            "hook_event_name": "PreToolUse", "tool_name": "mcp__fs__move", "cwd": "C:\\work",
            "tool_input": { "filePath": "a\\b.txt", "options": { "file_path": "~/.ssh/" },
                            "paths": ["/etc/../etc/passwd", 3], "path": "D:/x/./y", "name": "z" }
        }));
        assert_eq!(
            mcp.file_paths(),
            ["C:/work/a/b.txt", "~/.ssh", "/etc/passwd", "D:/x/y"]
        );
        assert!(bash("cat /etc/passwd").file_paths().is_empty());
        assert_eq!(absolute_path(None, "../a/./b/.."), "../a");
        assert_eq!(absolute_path(Some("/"), "../../x"), "/x");
    }

    #[test]
    fn shell_commands_only_come_from_shell_tools() {
        assert_eq!(bash("ls -la").shell_command().as_deref(), Some("ls -la"));
        let argv = event(&serde_json::json!({
            "hook_event_name": "PreToolUse", "tool_name": "local_shell",
            "tool_input": { "cmd": ["bash", "-lc", "rm -rf /"] }
        }));
        assert_eq!(argv.shell_command().as_deref(), Some("bash -lc 'rm -rf /'"));
        let mcp = event(&serde_json::json!({
            "hook_event_name": "PreToolUse", "tool_name": "mcp__gh__run",
            "tool_input": { "command": "rm -rf /", "repo": "prod-api" }
        }));
        assert_eq!(mcp.shell_command(), None);
        assert_eq!(
            mcp.mcp_arguments().as_deref(),
            Some(r#"{"command":"rm -rf /","repo":"prod-api"}"#)
        );
        assert_eq!(bash("ls").mcp_arguments(), None);
        for (name, is_mcp) in [
            ("mcp__gh__x", true),
            ("mcp____x", false),
            ("mcp__gh", false),
        ] {
            let input =
                event(&serde_json::json!({"hook_event_name": "PreToolUse", "tool_name": name}));
            assert_eq!(input.is_mcp_tool(), is_mcp, "{name}");
        }
    }
}
