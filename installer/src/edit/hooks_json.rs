//! Merging codex-guard's handlers into the user's `hooks.json`.
//!
//! The user's own hooks stay exactly where they are (so their trust keys, which
//! include each group's position, stay valid); ours are appended to each event's
//! list, or updated in place on a re-run. Codex rejects the whole file when the
//! top level has any key but `description` and `hooks`, so we refuse such a file.

use crate::failure::Failure;
use codex_guard_common::events::Event;
use codex_guard_common::{Layout, Receipt};
use serde_json::{Map, Value};
use std::path::Path;

/// The template shipped in `templates/hooks.json`.
pub const TEMPLATE: &str = include_str!("../../../templates/hooks.json");
const COMMAND_PLACEHOLDER: &str = "{{runtime_command}}";
const COMMAND_WINDOWS_PLACEHOLDER: &str = "{{runtime_command_windows}}";
const TIMEOUT_PLACEHOLDER: &str = "{{timeout}}";
const ALLOWED_TOP_LEVEL: [&str; 2] = ["description", "hooks"];

/// One of our handlers in the merged file.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    pub event: Event,
    pub group: usize,
    pub handler_index: usize,
    pub matcher: Option<String>,
    pub handler: Map<String, Value>,
}

impl Placed {
    /// The first handler of `ours`, a group of the rendered template, placed as group
    /// `group` of `event`.
    pub fn template_group(event: Event, group: usize, ours: &Value) -> Placed {
        Placed {
            event,
            group,
            handler_index: 0,
            matcher: ours
                .get("matcher")
                .and_then(Value::as_str)
                .map(str::to_string),
            handler: ours["hooks"][0]
                .as_object()
                .expect("template handler")
                .clone(),
        }
    }
}

/// Quotes a path for `$SHELL -lc`, which is how Codex runs a hook command.
pub fn shell_quote(path: &Path) -> String {
    let text = path.to_string_lossy();
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The command setup writes for the runtime of `layout`.
pub fn runtime_command(layout: &Layout) -> String {
    shell_quote(&layout.runtime_bin())
}

/// Double-quotes a path for cmd.exe and PowerShell, which is how Codex runs a
/// handler's `commandWindows`. `None` when the path cannot be written that way: it
/// holds `"` (or a control character), is not Unicode, or ends in `\` (which would
/// escape the closing quote).
pub fn windows_quote(path: &Path) -> Option<String> {
    let text = path.to_str()?;
    if text.is_empty() || text.ends_with('\\') || text.chars().any(|c| c == '"' || c.is_control()) {
        return None;
    }
    Some(format!("\"{text}\""))
}

/// The `commandWindows` that runs `runtime`: `"<runtime>"`, or for a managed install
/// `"<runtime>" --machine-config "<config>"`. `None` when a path cannot be quoted.
pub fn windows_command(runtime: &Path, machine_config: Option<&Path>) -> Option<String> {
    let runtime = windows_quote(runtime)?;
    match machine_config {
        None => Some(runtime),
        Some(config) => Some(format!(
            "{runtime} {} {}",
            codex_guard_common::layout::MACHINE_CONFIG_ARG,
            windows_quote(config)?
        )),
    }
}

/// The platform whose Codex reads the rendered handlers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Linux and macOS: Codex runs `command`; handlers get no `commandWindows` key, so
    /// the file stays as earlier versions wrote it.
    Unix,
    /// Windows: Codex runs this `commandWindows` instead of `command`.
    Windows { command: String },
}

impl Target {
    /// The platform this installer was built for, running `runtime` (with
    /// `--machine-config <config>` for a managed install).
    pub fn current(runtime: &Path, machine_config: Option<&Path>) -> Result<Target, Failure> {
        Target::new(cfg!(windows), runtime, machine_config)
    }

    /// Windows when `windows`, else Unix. Fails on Windows when a path cannot be quoted
    /// for `commandWindows`.
    pub fn new(
        windows: bool,
        runtime: &Path,
        machine_config: Option<&Path>,
    ) -> Result<Target, Failure> {
        if !windows {
            return Ok(Target::Unix);
        }
        match windows_command(runtime, machine_config) {
            Some(command) => Ok(Target::Windows { command }),
            None => {
                let path = match machine_config {
                    Some(config) if windows_quote(runtime).is_some() => config,
                    _ => runtime,
                };
                Err(Failure::bad_input(format!(
                    "{} cannot be written in a hook command for Windows (it holds a `\"`, \
                     a control character or a trailing `\\`)",
                    path.display()
                ))
                .hint("install codex-guard under another directory; nothing was changed"))
            }
        }
    }
}

/// Every command that identifies one of our handlers: the one setup writes now, and
/// the ones an earlier setup recorded in the receipt.
pub fn our_commands(layout: &Layout, receipt: Option<&Receipt>) -> Vec<String> {
    let mut commands = vec![runtime_command(layout)];
    if let Some(receipt) = receipt {
        for handler in &receipt.hooks_json.handlers {
            if !commands.contains(&handler.command) {
                commands.push(handler.command.clone());
            }
        }
    }
    commands
}

/// Whether a handler runs exactly one of `commands` (never a substring match, so
/// another tool's hook is never taken for ours).
pub fn runs_one_of(handler: &Map<String, Value>, commands: &[String]) -> bool {
    handler
        .get("command")
        .and_then(Value::as_str)
        .is_some_and(|c| commands.iter().any(|k| k == c))
}

/// The template with the runtime command and timeout filled in as JSON values
/// (never spliced into text). For [`Target::Windows`] each handler's `commandWindows`
/// holds its command; for [`Target::Unix`] the key is left out.
pub fn render_template(command: &str, timeout_secs: u64, target: &Target) -> Value {
    fn fill(value: &mut Value, command: &str, timeout: u64, windows: Option<&str>) {
        match value {
            Value::String(s) if s == COMMAND_PLACEHOLDER => *value = command.into(),
            Value::String(s) if s == COMMAND_WINDOWS_PLACEHOLDER => {
                *value = windows.unwrap_or_default().into();
            }
            Value::String(s) if s == TIMEOUT_PLACEHOLDER => *value = timeout.into(),
            Value::Array(items) => items
                .iter_mut()
                .for_each(|v| fill(v, command, timeout, windows)),
            Value::Object(map) => {
                if windows.is_none() {
                    map.retain(|_, v| *v != COMMAND_WINDOWS_PLACEHOLDER);
                }
                map.values_mut()
                    .for_each(|v| fill(v, command, timeout, windows));
            }
            _ => {}
        }
    }
    let windows = match target {
        Target::Unix => None,
        Target::Windows { command } => Some(command.as_str()),
    };
    let mut value: Value = serde_json::from_str(TEMPLATE).expect("templates/hooks.json is valid");
    fill(&mut value, command, timeout_secs, windows);
    value
}

/// Parses and checks an existing `hooks.json` the way Codex would accept it.
pub fn parse(text: &str, path: &Path) -> Result<Value, Failure> {
    if text.starts_with('\u{feff}') {
        // Codex reads the file as plain JSON: with a byte order mark it ignores the
        // whole file ("expected value at line 1 column 1"), hooks and all.
        return Err(Failure::bad_input(format!(
            "{} starts with a UTF-8 byte order mark, so Codex cannot read it and runs none of its hooks",
            path.display()
        ))
        .hint("remove the first three bytes (the mark) and run setup again; nothing was changed"));
    }
    let value: Value = serde_json::from_str(text).map_err(|e| {
        Failure::bad_input(format!(
            "{} is not valid JSON (line {}, column {}: {e})",
            path.display(),
            e.line(),
            e.column()
        ))
        .hint("fix the file (or move it away) and run setup again; nothing was changed")
    })?;
    let Value::Object(top) = &value else {
        return Err(Failure::bad_input(format!(
            "{} must hold a JSON object",
            path.display()
        )));
    };
    if let Some(key) = top
        .keys()
        .find(|k| !ALLOWED_TOP_LEVEL.contains(&k.as_str()))
    {
        return Err(Failure::bad_input(format!(
            "{} has the top-level key {key:?}; Codex ignores a hooks.json with any key other than \
             \"description\" and \"hooks\"",
            path.display()
        ))
        .hint(format!(
            "remove {key:?} from {} and run setup again; nothing was changed",
            path.display()
        )));
    }
    match top.get("hooks") {
        None | Some(Value::Object(_)) => {}
        Some(_) => {
            return Err(Failure::bad_input(format!(
                "\"hooks\" in {} must be an object of event names",
                path.display()
            )))
        }
    }
    if let Some(Value::Object(events)) = top.get("hooks") {
        for (event, groups) in events {
            let valid = groups
                .as_array()
                .is_some_and(|g| g.iter().all(Value::is_object));
            if !valid {
                return Err(Failure::bad_input(format!(
                    "\"hooks\".{event:?} in {} must be a list of matcher groups",
                    path.display()
                )));
            }
        }
    }
    Ok(value)
}

/// Merges the rendered template into `existing` (or a new file). `is_ours` tells a
/// handler of ours (current or previously installed command) from anyone else's.
/// Returns the merged document and where each of our handlers ended up.
pub fn merge(
    existing: Option<Value>,
    rendered: &Value,
    is_ours: &dyn Fn(&Map<String, Value>) -> bool,
) -> (Value, Vec<Placed>) {
    let mut doc = match existing {
        Some(Value::Object(map)) => map,
        _ => {
            let mut map = Map::new();
            if let Some(d) = rendered.get("description") {
                map.insert("description".into(), d.clone());
            }
            map
        }
    };
    let events = doc
        .entry("hooks")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .expect("checked by parse");

    let group_is_ours = |group: &Value| {
        group
            .get("hooks")
            .and_then(Value::as_array)
            .is_some_and(|h| h.len() == 1 && h[0].as_object().is_some_and(is_ours))
    };

    // Our groups under events we no longer register go away.
    let template_events = rendered["hooks"].as_object().expect("template has hooks");
    let mut emptied = Vec::new();
    for (name, groups) in events.iter_mut() {
        if let Some(list) = groups
            .as_array_mut()
            .filter(|_| !template_events.contains_key(name))
        {
            let before = list.len();
            list.retain(|g| !group_is_ours(g));
            if list.is_empty() && before > 0 {
                emptied.push(name.clone());
            }
        }
    }
    for name in emptied {
        events.shift_remove(&name);
    }

    let mut placed = Vec::new();
    for (name, template_groups) in template_events {
        let event = Event::from_name(name).expect("template events are known");
        let ours = template_groups[0].clone();
        let list = events
            .entry(name.clone())
            .or_insert_with(|| Value::Array(Vec::new()))
            .as_array_mut()
            .expect("checked by parse");
        let mut positions = list
            .iter()
            .enumerate()
            .filter(|(_, g)| group_is_ours(g))
            .map(|(i, _)| i);
        let group = match positions.next() {
            Some(first) => {
                let extra: Vec<usize> = positions.collect();
                for i in extra.into_iter().rev() {
                    list.remove(i);
                }
                if list[first] != ours {
                    list[first] = ours.clone();
                }
                first
            }
            None => {
                list.push(ours.clone());
                list.len() - 1
            }
        };
        placed.push(Placed::template_group(event, group, &ours));
    }
    (Value::Object(doc), placed)
}

/// Where a group that stays moved to when groups before it were removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    pub event: String,
    pub from: usize,
    pub to: usize,
    /// Number of handlers in the group (each has its own trust key).
    pub handlers: usize,
}

/// One of our groups taken out, as it was.
#[derive(Debug, Clone, PartialEq)]
pub struct RemovedGroup {
    pub event: String,
    /// Its position before removal (the one its trust key names).
    pub index: usize,
    pub matcher: Option<String>,
    pub handler: Map<String, Value>,
}

/// The result of taking our handlers out of a `hooks.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct Removal {
    pub value: Value,
    pub removed: Vec<RemovedGroup>,
    pub moved: Vec<Moved>,
}

/// Uninstall's edit of a hooks.json: our handlers out, and with them what setup added
/// around them that `original` (the file before setup, from the receipt) did not have:
/// an event list, the `hooks` key. Without `original`, an emptied event list goes (an
/// empty list does nothing in Codex).
pub fn unmerge(
    doc: Value,
    original: Option<&Value>,
    is_ours: &dyn Fn(&Map<String, Value>) -> bool,
) -> Removal {
    let before = original.and_then(|o| o.get("hooks"));
    let keep_event = |event: &str| before.is_some_and(|h| h.get(event).is_some());
    let mut removal = remove(doc, is_ours, &keep_event);
    let added_hooks_key = original.is_some_and(|o| o.get("hooks").is_none());
    let emptied = removal.value["hooks"]
        .as_object()
        .is_some_and(serde_json::Map::is_empty);
    if !removal.removed.is_empty() && added_hooks_key && emptied {
        if let Some(top) = removal.value.as_object_mut() {
            top.shift_remove("hooks");
        }
    }
    removal
}

/// Removes every group made only of a handler of ours. An event list emptied by this is
/// dropped unless `keep_event` says the user had it before.
pub fn remove(
    doc: Value,
    is_ours: &dyn Fn(&Map<String, Value>) -> bool,
    keep_event: &dyn Fn(&str) -> bool,
) -> Removal {
    let mut doc = doc;
    let mut removed = Vec::new();
    let mut moved = Vec::new();
    if let Some(events) = doc.get_mut("hooks").and_then(Value::as_object_mut) {
        let mut emptied = Vec::new();
        for (event, groups) in events.iter_mut() {
            let Some(list) = groups.as_array_mut() else {
                continue;
            };
            let before = list.len();
            let mut kept = Vec::with_capacity(list.len());
            for (index, group) in std::mem::take(list).into_iter().enumerate() {
                let handlers = group.get("hooks").and_then(Value::as_array);
                let ours =
                    handlers.is_some_and(|h| h.len() == 1 && h[0].as_object().is_some_and(is_ours));
                if ours {
                    let handler = group["hooks"][0].as_object().cloned().unwrap_or_default();
                    let matcher = group
                        .get("matcher")
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    removed.push(RemovedGroup {
                        event: event.clone(),
                        index,
                        matcher,
                        handler,
                    });
                } else {
                    if kept.len() != index {
                        moved.push(Moved {
                            event: event.clone(),
                            from: index,
                            to: kept.len(),
                            handlers: handlers.map_or(0, Vec::len),
                        });
                    }
                    kept.push(group);
                }
            }
            *list = kept;
            if list.is_empty() && before > 0 && !keep_event(event) {
                emptied.push(event.clone());
            }
        }
        for event in emptied {
            events.shift_remove(&event);
        }
    }
    Removal {
        value: doc,
        removed,
        moved,
    }
}

/// True when the document holds no hook at all (only, perhaps, a description).
pub fn is_empty(value: &Value) -> bool {
    value
        .get("hooks")
        .and_then(Value::as_object)
        .is_none_or(|events| {
            events
                .values()
                .all(|g| g.as_array().is_some_and(Vec::is_empty))
        })
}

/// The file's text: two-space indentation, a final newline, and the line endings of
/// the file it replaces (`like`).
pub fn to_text(value: &Value, like: &str) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("JSON serializes");
    text.push('\n');
    crate::fsutil::line_endings_like(text, like)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CMD: &str = "'/h/.codex/codex-guard/bin/codex-guard-hook'";

    fn ours(h: &Map<String, Value>) -> bool {
        h.get("command").and_then(Value::as_str) == Some(CMD)
    }

    #[test]
    fn shell_quoting_survives_spaces_and_quotes() {
        assert_eq!(shell_quote(Path::new("/a b/it's")), r"'/a b/it'\''s'");
    }

    #[test]
    fn template_registers_every_event_with_the_command_as_data() {
        let rendered = render_template("'/a b/x'; rm -rf ~ #", 8, &Target::Unix);
        for event in Event::ALL {
            let handler = &rendered["hooks"][event.name()][0]["hooks"][0];
            assert_eq!(handler["command"], "'/a b/x'; rm -rf ~ #");
            assert_eq!(handler["timeout"], 8);
            assert_eq!(handler["type"], "command");
        }
        assert_eq!(
            rendered["hooks"].as_object().unwrap().len(),
            Event::ALL.len()
        );
    }

    #[test]
    fn user_hooks_keep_their_place_and_ours_are_appended_once() {
        let user = json!({"hooks": {
            "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "user-a"}]}],
            "Notification": [{"hooks": [{"type": "command", "command": "user-b"}]}]
        }});
        let rendered = render_template(CMD, 8, &Target::Unix);
        let (merged, placed) = merge(Some(user.clone()), &rendered, &ours);
        assert_eq!(
            merged["hooks"]["PreToolUse"][0],
            user["hooks"]["PreToolUse"][0]
        );
        assert_eq!(merged["hooks"]["PreToolUse"][1]["hooks"][0]["command"], CMD);
        assert_eq!(
            merged["hooks"]["Notification"],
            user["hooks"]["Notification"]
        );
        let pre = placed
            .iter()
            .find(|p| p.event == Event::PreToolUse)
            .unwrap();
        assert_eq!(pre.group, 1);
        let stop = placed.iter().find(|p| p.event == Event::Stop).unwrap();
        assert_eq!(stop.group, 0);
        assert!(
            merged.get("description").is_none(),
            "the user's file gets no description"
        );

        // A second merge changes nothing.
        let (again, placed_again) = merge(Some(merged.clone()), &rendered, &ours);
        assert_eq!(again, merged);
        assert_eq!(placed_again, placed);
    }

    #[test]
    fn a_changed_timeout_updates_our_group_in_place() {
        let rendered = render_template(CMD, 8, &Target::Unix);
        let (first, _) = merge(None, &rendered, &ours);
        let (second, placed) = merge(Some(first), &render_template(CMD, 20, &Target::Unix), &ours);
        assert_eq!(second["hooks"]["Stop"].as_array().unwrap().len(), 1);
        assert_eq!(second["hooks"]["Stop"][0]["hooks"][0]["timeout"], 20);
        assert!(placed.iter().all(|p| p.group == 0));
        assert!(second.get("description").is_some());
    }

    #[test]
    fn removal_takes_only_ours_and_reports_moved_groups() {
        let user = json!({"hooks": {
            "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "user-a"}]}],
        }});
        let (mut merged, _) = merge(
            Some(user.clone()),
            &render_template(CMD, 8, &Target::Unix),
            &ours,
        );
        // The user trusted a hook after setup: it sits after ours.
        merged["hooks"]["PreToolUse"]
            .as_array_mut()
            .unwrap()
            .push(json!({"hooks": [{"type": "command", "command": "user-c"}]}));
        let removal = remove(merged, &ours, &|e| e == "PreToolUse");
        assert_eq!(removal.removed.len(), 6);
        assert_eq!(
            removal.value["hooks"]["PreToolUse"],
            json!([user["hooks"]["PreToolUse"][0], {"hooks": [{"type": "command", "command": "user-c"}]}])
        );
        assert!(removal.value["hooks"].get("Stop").is_none());
        assert_eq!(
            removal.moved,
            vec![Moved {
                event: "PreToolUse".into(),
                from: 2,
                to: 1,
                handlers: 1
            }]
        );
        assert!(!is_empty(&removal.value));
        assert!(is_empty(
            &json!({"description": "x", "hooks": {"Stop": []}})
        ));
    }

    const EXE: &str = r"C:\Users\a b\.codex\codex-guard\bin\codex-guard-hook.exe";

    fn windows() -> Target {
        Target::new(true, Path::new(EXE), None).unwrap()
    }

    fn handlers(rendered: &Value) -> Vec<&Map<String, Value>> {
        rendered["hooks"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|groups| groups.as_array().unwrap())
            .flat_map(|group| group["hooks"].as_array().unwrap())
            .map(|h| h.as_object().unwrap())
            .collect()
    }

    #[test]
    fn windows_paths_are_double_quoted_and_a_quote_is_refused() {
        assert_eq!(
            windows_quote(Path::new(EXE)).unwrap(),
            r#""C:\Users\a b\.codex\codex-guard\bin\codex-guard-hook.exe""#
        );
        assert_eq!(
            windows_command(Path::new(EXE), None).unwrap(),
            format!("\"{EXE}\"")
        );
        assert_eq!(
            windows_command(
                Path::new(r"C:\Program Files\codex-guard\codex-guard-hook.exe"),
                Some(Path::new(r"C:\ProgramData\codex-guard\config.toml"))
            )
            .unwrap(),
            r#""C:\Program Files\codex-guard\codex-guard-hook.exe" --machine-config "C:\ProgramData\codex-guard\config.toml""#
        );
        let quoted = Path::new(r#"C:\a"b\codex-guard-hook.exe"#);
        assert_eq!(windows_quote(quoted), None);
        assert_eq!(windows_command(quoted, None), None);
        assert_eq!(windows_command(Path::new(EXE), Some(quoted)), None);
        assert_eq!(windows_quote(Path::new(r"C:\dir\")), None);
        assert_eq!(windows_quote(Path::new("C:\\a\nb")), None);
        let err = Target::new(true, quoted, None).unwrap_err();
        assert!(err.message.contains(r#"C:\a"b"#), "{}", err.message);
        let err = Target::new(true, Path::new(EXE), Some(quoted)).unwrap_err();
        assert!(err.message.contains(r#"C:\a"b"#), "{}", err.message);
        // Off Windows such a path is fine: the POSIX `command` quotes it.
        assert_eq!(Target::new(false, quoted, None).unwrap(), Target::Unix);
    }

    #[test]
    fn windows_rendering_fills_command_windows_in_every_handler() {
        let rendered = render_template(CMD, 8, &windows());
        let all = handlers(&rendered);
        assert_eq!(all.len(), Event::ALL.len());
        for handler in all {
            assert_eq!(handler["command"], CMD);
            assert_eq!(handler["commandWindows"], format!("\"{EXE}\""));
            assert_eq!(handler["timeout"], 8);
        }
        let managed = Target::new(
            true,
            Path::new(EXE),
            Some(Path::new(r"C:\ProgramData\codex-guard\config.toml")),
        )
        .unwrap();
        let rendered = render_template("'x' --machine-config 'y'", 8, &managed);
        for handler in handlers(&rendered) {
            assert_eq!(handler["command"], "'x' --machine-config 'y'");
            assert_eq!(
                handler["commandWindows"],
                format!("\"{EXE}\" --machine-config \"C:\\ProgramData\\codex-guard\\config.toml\"")
            );
        }
    }

    #[test]
    fn unix_rendering_has_no_command_windows_and_keeps_the_old_shape() {
        let rendered = render_template(CMD, 8, &Target::Unix);
        assert!(!to_text(&rendered, "").contains("commandWindows"));
        assert!(!to_text(&rendered, "").contains("{{"));
        for handler in handlers(&rendered) {
            assert_eq!(
                handler.keys().collect::<Vec<_>>(),
                ["type", "command", "timeout"]
            );
        }
    }

    #[test]
    fn windows_merge_is_idempotent_and_removal_still_finds_ours() {
        let user = json!({"hooks": {
            "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "user-a"}]}],
        }});
        let rendered = render_template(CMD, 8, &windows());
        let (merged, placed) = merge(Some(user.clone()), &rendered, &ours);
        assert!(placed
            .iter()
            .all(|p| p.handler["commandWindows"] == format!("\"{EXE}\"")));
        let (again, placed_again) = merge(Some(merged.clone()), &rendered, &ours);
        assert_eq!(again, merged);
        assert_eq!(placed_again, placed);
        // A Unix install of the same file drops the key again, in place.
        let (unix, _) = merge(
            Some(merged.clone()),
            &render_template(CMD, 8, &Target::Unix),
            &ours,
        );
        assert_eq!(
            unix["hooks"]["PreToolUse"][1]["hooks"][0].get("commandWindows"),
            None
        );
        assert_eq!(unix["hooks"]["PreToolUse"].as_array().unwrap().len(), 2);

        let removal = remove(merged, &ours, &|e| e == "PreToolUse");
        assert_eq!(removal.removed.len(), Event::ALL.len());
        assert_eq!(removal.value, user);
    }

    #[test]
    fn invalid_files_are_refused_with_the_reason() {
        let p = Path::new("/h/hooks.json");
        assert!(parse("{", p).unwrap_err().message.contains("line 1"));
        assert!(parse(r#"{"$schema":"x","hooks":{}}"#, p)
            .unwrap_err()
            .message
            .contains("\"$schema\""));
        assert!(parse(r#"{"hooks":{"Stop":{}}}"#, p).is_err());
        assert!(parse(r#"{"hooks":[]}"#, p).is_err());
        let bom = parse("\u{feff}{\"hooks\":{}}", p).unwrap_err();
        assert!(bom.message.contains("byte order mark"), "{}", bom.message);
    }
}
