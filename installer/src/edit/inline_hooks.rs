//! codex-guard's handlers kept inline in Codex's `config.toml` (`[[hooks.<Event>]]`
//! tables), for a user whose own hooks live there: Codex loads a layer's hooks.json and
//! inline hooks both, but warns on every session that it does, so ours go where the
//! user's already are.
//!
//! The edits mirror [`crate::edit::hooks_json`]: the user's groups keep their place (their
//! trust keys name it), ours are appended to each event's list or updated in place.
//! Done with `toml_edit`, so every other byte of the file stays as it was.

use crate::edit::hooks_json::{Moved, Placed, RemovedGroup};
use crate::failure::Failure;
use codex_guard_common::events::Event;
use serde_json::{Map, Value};
use std::path::Path;
use toml_edit::{ArrayOfTables, DocumentMut, Item, Table};

/// Keys of `[hooks]` that are no event list: the trust records (and, in requirements,
/// the managed directory).
const NOT_EVENTS: [&str; 2] = ["state", "managed_dir"];

/// The event lists of `doc`'s `[hooks]` table, shaped as hooks.json holds them:
/// `{"hooks": {"PreToolUse": [groups...]}}`.
pub fn as_json(doc: &DocumentMut) -> Value {
    let mut events = Map::new();
    if let Some(hooks) = doc.get("hooks").and_then(Item::as_table_like) {
        for (name, item) in hooks.iter() {
            if NOT_EVENTS.contains(&name) {
                continue;
            }
            if let value @ Value::Array(_) = item_to_json(item) {
                events.insert(name.to_string(), value);
            }
        }
    }
    let mut top = Map::new();
    top.insert("hooks".into(), Value::Object(events));
    Value::Object(top)
}

/// Whether `doc` holds a hook group that is not one of ours.
pub fn has_foreign_groups(
    doc: &DocumentMut,
    is_ours: &dyn Fn(&Map<String, Value>) -> bool,
) -> bool {
    has_foreign(&as_json(doc), is_ours)
}

/// Whether a hooks.json-shaped document holds a group that is not one of ours.
pub fn has_foreign(doc: &Value, is_ours: &dyn Fn(&Map<String, Value>) -> bool) -> bool {
    doc.get("hooks")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|events| events.values())
        .filter_map(Value::as_array)
        .flatten()
        .any(|group| !group_is_ours(group, is_ours))
}

/// A group made of exactly one handler, one of ours.
fn group_is_ours(group: &Value, is_ours: &dyn Fn(&Map<String, Value>) -> bool) -> bool {
    group
        .get("hooks")
        .and_then(Value::as_array)
        .is_some_and(|h| h.len() == 1 && h[0].as_object().is_some_and(is_ours))
}

fn item_to_json(item: &Item) -> Value {
    match item {
        Item::None => Value::Null,
        Item::Value(value) => value_to_json(value),
        Item::Table(table) => table_json(table),
        Item::ArrayOfTables(array) => Value::Array(array.iter().map(table_json).collect()),
    }
}

fn table_json(table: &Table) -> Value {
    Value::Object(
        table
            .iter()
            .map(|(k, v)| (k.to_string(), item_to_json(v)))
            .collect(),
    )
}

fn value_to_json(value: &toml_edit::Value) -> Value {
    use toml_edit::Value as V;
    match value {
        V::String(s) => Value::String(s.value().clone()),
        V::Integer(i) => Value::from(*i.value()),
        V::Float(f) => serde_json::Number::from_f64(*f.value()).map_or(Value::Null, Value::Number),
        V::Boolean(b) => Value::Bool(*b.value()),
        V::Datetime(d) => Value::String(d.value().to_string()),
        V::Array(items) => Value::Array(items.iter().map(value_to_json).collect()),
        V::InlineTable(table) => Value::Object(
            table
                .iter()
                .map(|(k, v)| (k.to_string(), value_to_json(v)))
                .collect(),
        ),
    }
}

/// Why a `config.toml` cannot take our handlers inline, with the fix.
fn refuse(path: &Path, problem: String, fix: &str) -> Failure {
    Failure::bad_input(problem).hint(format!(
        "{fix} in {}, then run `codex-guard setup` again; nothing was changed",
        path.display()
    ))
}

/// Our event lists must be `[[hooks.<Event>]]` tables: `toml_edit` cannot append a
/// table to a list written inline without rewriting the user's line.
fn event_tables<'a>(
    hooks: &'a mut Table,
    event: &str,
    path: &Path,
) -> Result<&'a mut ArrayOfTables, Failure> {
    hooks
        .entry(event)
        .or_insert_with(|| Item::ArrayOfTables(ArrayOfTables::new()))
        .as_array_of_tables_mut()
        .ok_or_else(|| {
            refuse(
                path,
                format!(
                    "`hooks.{event}` in {} is not written as [[hooks.{event}]] tables, so \
                     codex-guard cannot add its handler beside the user's",
                    path.display()
                ),
                &format!("write each group of hooks.{event} as a [[hooks.{event}]] table"),
            )
        })
}

fn hooks_table<'a>(doc: &'a mut DocumentMut, path: &Path) -> Result<&'a mut Table, Failure> {
    let hooks = doc.entry("hooks").or_insert_with(|| {
        let mut table = Table::new();
        table.set_implicit(true);
        Item::Table(table)
    });
    hooks.as_table_mut().ok_or_else(|| {
        refuse(
            path,
            format!(
                "`hooks` in {} is not a [hooks] table, so codex-guard cannot add its handlers",
                path.display()
            ),
            "write `hooks` as [hooks] / [[hooks.<Event>]] tables",
        )
    })
}

/// One `[[hooks.<Event>]]` group from the rendered template's JSON: the matcher, then
/// each handler as a `[[hooks.<Event>.hooks]]` table.
pub(crate) fn group_table(group: &Value) -> Table {
    let mut table = Table::new();
    table.decor_mut().set_prefix("\n");
    if let Some(matcher) = group.get("matcher").and_then(Value::as_str) {
        table.insert("matcher", toml_edit::value(matcher));
    }
    let mut handlers = ArrayOfTables::new();
    for handler in group["hooks"].as_array().into_iter().flatten() {
        let mut h = Table::new();
        // Right under the group's header, as a person writes it.
        h.decor_mut().set_prefix("");
        for (key, value) in handler.as_object().into_iter().flatten() {
            let value = match value {
                Value::String(s) => toml_edit::value(s.as_str()),
                Value::Number(n) => match n.as_i64() {
                    Some(i) => toml_edit::value(i),
                    None => continue,
                },
                Value::Bool(b) => toml_edit::value(*b),
                _ => continue,
            };
            h.insert(key, value);
        }
        handlers.push(h);
    }
    table.insert("hooks", Item::ArrayOfTables(handlers));
    table
}

/// Merges the rendered template (hooks.json's shape) into `doc`'s `[hooks]` tables.
/// `is_ours` tells a handler of ours (current or previously installed command) from
/// anyone else's. Returns where each of our handlers is, for its trust key. Running it
/// twice on the same document changes nothing the second time.
pub fn merge(
    doc: &mut DocumentMut,
    path: &Path,
    rendered: &Value,
    is_ours: &dyn Fn(&Map<String, Value>) -> bool,
) -> Result<Vec<Placed>, Failure> {
    let template_events = rendered["hooks"].as_object().expect("template has hooks");
    let hooks = hooks_table(doc, path)?;

    // Our groups under events we no longer register go away.
    let stale: Vec<String> = hooks
        .iter()
        .map(|(k, _)| k.to_string())
        .filter(|k| !NOT_EVENTS.contains(&k.as_str()) && !template_events.contains_key(k))
        .collect();
    for name in stale {
        if let Some(array) = hooks.get_mut(&name).and_then(Item::as_array_of_tables_mut) {
            let before = array.len();
            array.retain(|t| !group_is_ours(&table_json(t), is_ours));
            if array.is_empty() && before > 0 {
                hooks.remove(&name);
            }
        }
    }

    let mut placed = Vec::new();
    for (name, template_groups) in template_events {
        let event = Event::from_name(name).expect("template events are known");
        let ours = &template_groups[0];
        let array = event_tables(hooks, name, path)?;
        let positions: Vec<usize> = array
            .iter()
            .enumerate()
            .filter(|(_, t)| group_is_ours(&table_json(t), is_ours))
            .map(|(i, _)| i)
            .collect();
        let group = match positions.split_first() {
            Some((&first, extra)) => {
                for &i in extra.iter().rev() {
                    array.remove(i);
                }
                let slot = array.get_mut(first).expect("index in range");
                if table_json(slot) != *ours {
                    // In place: the table keeps its spot in the file and its decoration.
                    let position = slot.position();
                    let decor = slot.decor().clone();
                    *slot = group_table(ours);
                    *slot.decor_mut() = decor;
                    slot.set_position(position);
                }
                first
            }
            None => {
                array.push(group_table(ours));
                array.len() - 1
            }
        };
        placed.push(Placed::template_group(event, group, ours));
    }
    Ok(placed)
}

/// Takes every group made only of a handler of ours out of `doc`'s `[hooks]` tables. An
/// event list emptied by this goes; the groups after a removed one move up
/// ([`Moved`]), and their trust records must follow them.
pub fn remove(doc: &mut DocumentMut, is_ours: &dyn Fn(&Map<String, Value>) -> bool) -> Removed {
    let mut removed = Vec::new();
    let mut moved = Vec::new();
    let Some(hooks) = doc.get_mut("hooks").and_then(Item::as_table_mut) else {
        return Removed { removed, moved };
    };
    let events: Vec<String> = hooks
        .iter()
        .map(|(k, _)| k.to_string())
        .filter(|k| !NOT_EVENTS.contains(&k.as_str()))
        .collect();
    for event in events {
        let Some(array) = hooks.get_mut(&event).and_then(Item::as_array_of_tables_mut) else {
            continue;
        };
        let before = array.len();
        let groups: Vec<Value> = array.iter().map(table_json).collect();
        let mut kept = 0;
        for (index, group) in groups.iter().enumerate() {
            if group_is_ours(group, is_ours) {
                removed.push(RemovedGroup {
                    event: event.clone(),
                    index,
                    matcher: group
                        .get("matcher")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    handler: group["hooks"][0].as_object().cloned().unwrap_or_default(),
                });
            } else {
                if kept != index {
                    moved.push(Moved {
                        event: event.clone(),
                        from: index,
                        to: kept,
                        handlers: group
                            .get("hooks")
                            .and_then(Value::as_array)
                            .map_or(0, Vec::len),
                    });
                }
                kept += 1;
            }
        }
        let mut index = 0;
        array.retain(|_| {
            let keep = !group_is_ours(&groups[index], is_ours);
            index += 1;
            keep
        });
        if array.is_empty() && before > 0 {
            hooks.remove(&event);
        }
    }
    Removed { removed, moved }
}

/// The edited file must read back as written, or the next run would regroup its lines.
pub fn check_reads_back(doc: &DocumentMut, path: &Path) -> Result<(), Failure> {
    let edited = doc.to_string();
    let reread = edited.parse::<DocumentMut>().ok();
    match reread.and_then(|again| crate::edit::codex_config::layout_change(&again, &edited)) {
        None => Ok(()),
        Some((line, why)) => Err(refuse(
            path,
            format!(
                "{} cannot be edited: with codex-guard's handlers added, line {line} and the \
                 lines after it would be rewritten by the next run: {why}",
                path.display()
            ),
            "keep each table's keys together (the `[hooks]` tables in particular)",
        )),
    }
}

/// What [`remove`] took out.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Removed {
    pub removed: Vec<RemovedGroup>,
    pub moved: Vec<Moved>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edit::codex_config::{self, Trust};
    use crate::edit::hooks_json::{render_template, Target};
    use codex_guard_common::trust;

    const CMD: &str = "'/h/.codex/codex-guard/bin/codex-guard-hook'";
    const PATH: &str = "/h/.codex/config.toml";

    fn ours(h: &Map<String, Value>) -> bool {
        h.get("command").and_then(Value::as_str) == Some(CMD)
    }

    const USER: &str = "# my settings\nmodel = \"o3\" # best\n\n[features]\nhooks = true\n\n# guard my shell\n[[hooks.PreToolUse]]\nmatcher = \"Bash\"\n[[hooks.PreToolUse.hooks]]\ntype = \"command\"\ncommand = \"user-a\" # mine\ntimeout = 10\n\n[hooks.state.\"/h/.codex/config.toml:pre_tool_use:0:0\"]\ntrusted_hash = \"sha256:user\"\n\n[profiles.x]\nmodel = \"o3\"\n";

    /// Setup's edit of an inline home: our groups, then the trust records.
    fn install(
        text: &str,
        timeout: u64,
    ) -> (
        String,
        codex_guard_common::receipt::CodexConfigRecord,
        Vec<Placed>,
    ) {
        let path = Path::new(PATH);
        let mut doc = codex_config::parse(text, path).unwrap();
        let rendered = render_template(CMD, timeout, &Target::Unix);
        let placed = merge(&mut doc.clone(), path, &rendered, &ours).unwrap();
        let trust: Vec<Trust> = placed
            .iter()
            .map(|p| Trust {
                key: trust::trust_key(path, p.event, p.group, p.handler_index),
                hash: trust::handler_hash(p.event, p.matcher.as_deref(), &p.handler),
            })
            .collect();
        let record = codex_config::apply(&mut doc, path, &trust, None, Some(text)).unwrap();
        let again = merge(&mut doc, path, &rendered, &ours).unwrap();
        assert_eq!(again, placed);
        (doc.to_string(), record, placed)
    }

    #[test]
    fn ours_go_after_the_users_and_every_other_byte_stays() {
        let (after, _, placed) = install(USER, 8);
        assert!(after.starts_with(
            "# my settings\nmodel = \"o3\" # best\n\n[features]\nhooks = true\n\n# guard my shell\n[[hooks.PreToolUse]]\nmatcher = \"Bash\"\n[[hooks.PreToolUse.hooks]]\ntype = \"command\"\ncommand = \"user-a\" # mine\ntimeout = 10\n\n[[hooks.PreToolUse]]\n[[hooks.PreToolUse.hooks]]\ntype = \"command\"\ncommand = \"'/h/.codex/codex-guard/bin/codex-guard-hook'\"\ntimeout = 8\n"
        ), "{after}");
        assert!(after.contains("[profiles.x]\nmodel = \"o3\"\n"), "{after}");
        let pre = placed
            .iter()
            .find(|p| p.event == Event::PreToolUse)
            .unwrap();
        assert_eq!(pre.group, 1);
        let stop = placed.iter().find(|p| p.event == Event::Stop).unwrap();
        assert_eq!(stop.group, 0);
        assert_eq!(placed.len(), Event::ALL.len());
        // Codex reads back what was written, ours included, with their trust records.
        let json = as_json(&codex_config::parse(&after, Path::new(PATH)).unwrap());
        assert_eq!(
            json["hooks"]["PreToolUse"][0]["hooks"][0]["command"],
            "user-a"
        );
        assert_eq!(json["hooks"]["PreToolUse"][1]["hooks"][0]["command"], CMD);
        assert_eq!(json["hooks"]["Stop"][0]["hooks"][0]["timeout"], 8);
        assert!(after.contains(&format!(
            "[hooks.state.\"{PATH}:pre_tool_use:1:0\"]\ntrusted_hash = \"sha256:"
        )));
        assert!(after.contains("[hooks.state.\"/h/.codex/config.toml:pre_tool_use:0:0\"]\ntrusted_hash = \"sha256:user\""));
        assert_eq!(
            codex_config::layout_change(
                &codex_config::parse(&after, Path::new(PATH)).unwrap(),
                &after
            ),
            None
        );
    }

    #[test]
    fn a_second_setup_is_byte_identical_and_a_new_timeout_is_updated_in_place() {
        let (once, _, placed) = install(USER, 8);
        let path = Path::new(PATH);
        let rendered = render_template(CMD, 8, &Target::Unix);
        let mut doc = codex_config::parse(&once, path).unwrap();
        assert_eq!(merge(&mut doc, path, &rendered, &ours).unwrap(), placed);
        assert_eq!(doc.to_string(), once);

        let mut doc = codex_config::parse(&once, path).unwrap();
        let placed = merge(
            &mut doc,
            path,
            &render_template(CMD, 20, &Target::Unix),
            &ours,
        )
        .unwrap();
        let text = doc.to_string();
        assert_eq!(
            text.matches("timeout = 20").count(),
            Event::ALL.len(),
            "{text}"
        );
        assert!(!text.contains("timeout = 8"), "{text}");
        assert_eq!(
            placed
                .iter()
                .find(|p| p.event == Event::PreToolUse)
                .unwrap()
                .group,
            1
        );
        // Updated where it stood: the file has the same lines in the same order.
        assert_eq!(text.lines().count(), once.lines().count());
        assert_eq!(text.replace("timeout = 20", "timeout = 8"), once);
    }

    #[test]
    fn removal_gives_back_the_original_bytes() {
        let path = Path::new(PATH);
        for original in [
            USER,
            "[[hooks.Stop]]\n[[hooks.Stop.hooks]]\ntype = \"command\"\ncommand = \"echo stop\"\n",
            "# only a comment\n[[hooks.SessionStart]]\nmatcher = \"startup\"\nhooks = [{ type = \"command\", command = \"echo hi\" }]\n\n[tui]\nnotifications = true\n",
        ] {
            let (installed, record, _) = install(original, 8);
            let mut doc = codex_config::parse(&installed, path).unwrap();
            let removed = remove(&mut doc, &ours);
            assert_eq!(removed.removed.len(), Event::ALL.len());
            assert!(removed.moved.is_empty());
            codex_config::unapply(&mut doc, Some(&record), &[], &[]);
            assert_eq!(doc.to_string(), original, "{installed}");
        }
    }

    #[test]
    fn removal_reports_user_groups_that_move_up() {
        let (mut installed, _, _) = install(USER, 8);
        // The user added a group after setup: it sits after ours.
        installed
            .push_str("\n[[hooks.PreToolUse]]\n[[hooks.PreToolUse.hooks]]\ncommand = \"user-c\"\n");
        let mut doc = codex_config::parse(&installed, Path::new(PATH)).unwrap();
        let removed = remove(&mut doc, &ours);
        assert_eq!(
            removed.moved,
            vec![Moved {
                event: "PreToolUse".into(),
                from: 2,
                to: 1,
                handlers: 1
            }]
        );
        let json = as_json(&doc);
        assert_eq!(json["hooks"]["PreToolUse"].as_array().unwrap().len(), 2);
        assert_eq!(
            json["hooks"]["PreToolUse"][1]["hooks"][0]["command"],
            "user-c"
        );
        assert!(json["hooks"].get("Stop").is_none());
    }

    #[test]
    fn foreign_groups_are_told_from_ours() {
        let doc = codex_config::parse(USER, Path::new(PATH)).unwrap();
        assert!(has_foreign_groups(&doc, &ours));
        let (installed, _, _) = install("model = \"o3\"\n", 8);
        let doc = codex_config::parse(&installed, Path::new(PATH)).unwrap();
        assert!(!has_foreign_groups(&doc, &ours));
        // The trust records are no hooks.
        let doc = codex_config::parse(
            "[hooks.state.\"k\"]\ntrusted_hash = \"x\"\n",
            Path::new(PATH),
        )
        .unwrap();
        assert!(!has_foreign_groups(&doc, &ours));
    }

    #[test]
    fn lists_written_inline_are_refused() {
        let path = Path::new(PATH);
        for text in [
            "hooks.Stop = [{ hooks = [{ type = \"command\", command = \"x\" }] }]\n",
            "hooks = { Stop = [] }\n",
        ] {
            let mut doc = codex_config::parse(text, path).unwrap();
            let err = merge(
                &mut doc,
                path,
                &render_template(CMD, 8, &Target::Unix),
                &ours,
            )
            .unwrap_err();
            assert_eq!(err.code, crate::failure::ExitCode::BadInput);
            assert!(
                err.hint
                    .as_deref()
                    .unwrap_or("")
                    .contains("nothing was changed"),
                "{err:?}"
            );
        }
    }
}
