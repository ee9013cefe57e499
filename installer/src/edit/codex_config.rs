//! Edits to Codex's `config.toml`: `[features] hooks = true` (replacing the
//! deprecated `codex_hooks`) and the trust records of our handlers. Done with
//! `toml_edit`, so every comment, blank line and unrelated key keeps its bytes.

use crate::failure::Failure;
use crate::fsutil;
use codex_guard_common::receipt::{CodexConfigRecord, TrustRecord};
use std::path::Path;
use toml_edit::{DocumentMut, Item, Key, Table, Value};

/// A trust record to write: `[hooks.state."<key>"] trusted_hash = "<hash>"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trust {
    pub key: String,
    pub hash: String,
}

/// Parses `config.toml` (TOML 1.1, comments and layout kept), naming the line and
/// column of the first error.
pub fn parse(text: &str, path: &Path) -> Result<DocumentMut, Failure> {
    text.parse::<DocumentMut>().map_err(|e| {
        let (problem, line) = syntax_error(text, path, &e);
        let place = line.map(|l| format!("line {l} of ")).unwrap_or_default();
        Failure::bad_input(problem).hint(format!(
            "fix {place}{} and run setup again; nothing was changed",
            path.display()
        ))
    })
}

/// What is wrong with a TOML file that does not parse, for a person: the file, the
/// line and column of the error, and the parser's reason. Also the 1-based line.
pub fn syntax_error(
    text: &str,
    path: &Path,
    error: &toml_edit::TomlError,
) -> (String, Option<usize>) {
    let at = error.span().map(|span| {
        let before = &text[..floor_char_boundary(text, span.start)];
        let line = before.matches('\n').count() + 1;
        let column = before
            .rsplit_once('\n')
            .map_or(before, |(_, last)| last)
            .chars()
            .count()
            + 1;
        (line, column)
    });
    let place = at
        .map(|(line, column)| format!(" at line {line}, column {column}"))
        .unwrap_or_default();
    let problem = format!(
        "{} is not valid TOML 1.1{place}: {}",
        path.display(),
        error.message().trim()
    );
    (problem, at.map(|(line, _)| line))
}

/// The largest char boundary of `text` at or before `at`.
fn floor_char_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The text of `doc`, in the line endings of `original`.
pub fn render(doc: &DocumentMut, original: &str) -> String {
    fsutil::line_endings_like(doc.to_string(), original)
}

/// Where writing a freshly parsed `doc` back would change the file's other lines: the
/// 1-based line and why. Keys of one table spread over the file (dotted keys apart
/// from each other or from the table's `[header]`) are written back together, and
/// one kind of line ending is written; a missing final newline is only added.
pub fn layout_change(doc: &DocumentMut, text: &str) -> Option<(usize, &'static str)> {
    layout_change_of(&render(doc, text), text)
}

/// [`layout_change`] of a document already rendered (by [`render`]) as `again`.
pub fn layout_change_of(again: &str, text: &str) -> Option<(usize, &'static str)> {
    let eol = if fsutil::uses_crlf(text) {
        "\r\n"
    } else {
        "\n"
    };
    if again == text || again.strip_suffix(eol) == Some(text) {
        return None;
    }
    let line = text
        .split_inclusive('\n')
        .zip(again.split_inclusive('\n'))
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| text.matches('\n').count())
        + 1;
    let why = if text.contains("\r\n") && !fsutil::uses_crlf(text) {
        "the file mixes \\r\\n and \\n line endings"
    } else {
        "keys of one table are spread over the file (dotted keys apart from each other or from the table's [header])"
    };
    Some((line, why))
}

/// Applies our edits. `previous` is the record of an earlier setup: the values it
/// saw before any codex-guard change are kept, so uninstall restores the user's.
/// `original` is the text `doc` was just parsed from: a file that could not be
/// written back with its other lines as they are is refused.
pub fn apply(
    doc: &mut DocumentMut,
    path: &Path,
    trust: &[Trust],
    previous: Option<&CodexConfigRecord>,
    original: Option<&str>,
) -> Result<CodexConfigRecord, Failure> {
    if let Some(text) = original {
        check_layout(&render(doc, text), text, path)?;
    }
    let record = edit_document(doc, path, trust, previous, original)?;
    check_reads_back(&doc.to_string(), path)?;
    Ok(record)
}

/// Setup's whole edit of `config.toml`, from its text (`None`: no file) to the text to
/// write and the record of what changed, with as little work as a big file allows:
/// one parse and two renderings, and a second parse (to prove the next run reads the
/// file back alike) only when something changed, after the first document is freed.
pub fn edit(
    before: Option<&str>,
    path: &Path,
    trust: &[Trust],
    previous: Option<&CodexConfigRecord>,
) -> Result<(String, CodexConfigRecord), Failure> {
    let text = before.unwrap_or("");
    let mut doc = parse(text, path)?;
    let unedited = doc.to_string();
    if before.is_some() {
        if fsutil::uses_crlf(text) {
            check_layout(
                &fsutil::line_endings_like(unedited.clone(), text),
                text,
                path,
            )?;
        } else {
            check_layout(&unedited, text, path)?;
        }
    }
    let record = edit_document(&mut doc, path, trust, previous, before)?;
    let edited = doc.to_string();
    drop(doc);
    // Unedited, it is the text that just passed the layout check.
    if edited != unedited {
        drop(unedited);
        check_reads_back(&edited, path)?;
    }
    Ok((fsutil::line_endings_like(edited, text), record))
}

/// A file codex-guard cannot edit without loss is left as it is, with the fix.
fn refusal(path: &Path, problem: String, fix: &str) -> Failure {
    Failure::bad_input(problem).hint(format!(
        "{fix} in {}, then run `codex-guard setup` again; nothing was changed",
        path.display()
    ))
}

/// Refuses a file that, parsed and rendered as `rendered`, would not be written back
/// with its other lines as they are.
fn check_layout(rendered: &str, text: &str, path: &Path) -> Result<(), Failure> {
    match layout_change_of(rendered, text) {
        None => Ok(()),
        Some((line, why)) => Err(refusal(
            path,
            format!(
                "{} cannot be edited without rewriting line {line} and the lines after it: {why}",
                path.display()
            ),
            "keep each table's keys together and use one kind of line ending",
        )),
    }
}

/// The edited file must read back as written, or the next run would regroup it.
fn check_reads_back(edited: &str, path: &Path) -> Result<(), Failure> {
    let Ok(again) = edited.parse::<DocumentMut>() else {
        return Ok(());
    };
    let rendered = render(&again, edited);
    drop(again);
    match layout_change_of(&rendered, edited) {
        None => Ok(()),
        Some((line, why)) => Err(refusal(
            path,
            format!(
                "{} cannot be edited: with codex-guard's trust records added, line {line} and the lines after it would be rewritten by the next run: {why}",
                path.display()
            ),
            "keep each table's keys together (the `[hooks]` tables in particular)",
        )),
    }
}

/// The edits themselves, on a document whose layout was checked.
#[expect(
    clippy::too_many_lines,
    reason = "not split yet: the features key, its old name and each trust record in turn"
)]
fn edit_document(
    doc: &mut DocumentMut,
    path: &Path,
    trust: &[Trust],
    previous: Option<&CodexConfigRecord>,
    original: Option<&str>,
) -> Result<CodexConfigRecord, Failure> {
    let refuse = |problem: String, fix: &str| refusal(path, problem, fix);
    let not_a_table = |what: &str| {
        refuse(
            format!(
                "`{what}` in {} is not a table, so codex-guard cannot add to it",
                path.display()
            ),
            &format!("make `{what}` a table"),
        )
    };
    // Tables setup adds go at the end of the file, in the order they are added.
    let mut next_position = last_position(doc.as_table()) + 1;
    let mut at_end = |mut table: Table| {
        table.set_position(Some(next_position));
        next_position += 1;
        table
    };
    let root = doc.as_table_mut();

    // [features] hooks = true
    let features_table_created = !root.contains_key("features");
    if features_table_created {
        let mut table = at_end(Table::new());
        if !root.is_empty() {
            table.decor_mut().set_prefix("\n");
        }
        root.insert("features", Item::Table(table));
    }
    let features_item = root
        .get_mut("features")
        .filter(|item| item.is_table_like())
        .ok_or_else(|| not_a_table("features"))?;
    let features = features_item
        .as_table_like_mut()
        .ok_or_else(|| not_a_table("features"))?;
    // `features.hooks.x = 1` makes a table of a flag: replacing it would lose the
    // user's data, so it is refused like any other shape codex-guard cannot edit.
    for key in ["hooks", "codex_hooks"] {
        if features
            .get(key)
            .is_some_and(|item| item.as_value().is_none())
        {
            return Err(refuse(
                format!(
                    "`features.{key}` in {} is a table, not true or false",
                    path.display()
                ),
                &format!("set `{key} = true` under [features] (Codex reads it as a flag)"),
            ));
        }
    }
    let codex_hooks_previous = features
        .get("codex_hooks")
        .and_then(Item::as_value)
        .map(value_text);
    let hooks_previous = features
        .get("hooks")
        .and_then(Item::as_value)
        .map(value_text);
    if features.contains_key("codex_hooks") {
        if features.contains_key("hooks") {
            merge_flag_names(features);
        } else {
            rename_key(features, "codex_hooks", "hooks");
        }
    }
    set_true(features_item, "hooks");

    // [hooks.state."<key>"] trusted_hash
    let hooks = root
        .entry("hooks")
        .or_insert_with(|| Item::Table(implicit_table()));
    let hooks = hooks.as_table_mut().ok_or_else(|| not_a_table("hooks"))?;
    let state = hooks
        .entry("state")
        .or_insert_with(|| Item::Table(implicit_table()));
    let state = state
        .as_table_mut()
        .ok_or_else(|| not_a_table("hooks.state"))?;

    // Records an earlier setup wrote for handlers that moved or went away.
    if let Some(prev) = previous {
        for old in &prev.trust {
            if trust.iter().any(|t| t.key == old.key) {
                continue;
            }
            let ours = state
                .get(&old.key)
                .and_then(|t| t.get("trusted_hash"))
                .and_then(Item::as_str)
                == Some(old.trusted_hash.as_str());
            if ours {
                remove_trusted_hash(state, &old.key, old.previous.as_deref(), old.table_existed);
            }
        }
    }

    let mut records = Vec::with_capacity(trust.len());
    for t in trust {
        let existing = state.get(&t.key).and_then(|e| e.get("trusted_hash"));
        // Only a string can be put back as it was: anything else is not Codex's record.
        if existing.is_some_and(|item| item.as_str().is_none()) {
            return Err(refuse(
                format!(
                    "`hooks.state.\"{}\".trusted_hash` in {} is not a string",
                    t.key,
                    path.display()
                ),
                "remove that trusted_hash (Codex writes it as a \"sha256:...\" string)",
            ));
        }
        let current = existing.and_then(Item::as_str).map(str::to_string);
        let recorded = previous.and_then(|p| p.trust.iter().find(|r| r.key == t.key));
        let (previous_hash, table_existed) = match recorded {
            Some(r) => (r.previous.clone(), r.table_existed),
            None => (current.clone(), state.contains_key(&t.key)),
        };
        if current.as_deref() != Some(t.hash.as_str()) {
            let entry = state.entry(&t.key).or_insert_with(|| {
                let mut table = at_end(Table::new());
                table.decor_mut().set_prefix("\n");
                Item::Table(table)
            });
            if !entry.is_table_like() {
                return Err(not_a_table(&format!("hooks.state.\"{}\"", t.key)));
            }
            set_string(entry, "trusted_hash", &t.hash);
        }
        records.push(TrustRecord {
            key: t.key.clone(),
            trusted_hash: t.hash.clone(),
            previous: previous_hash,
            table_existed,
        });
    }
    // Empty implicit tables print nothing, so an unused `hooks.state` leaves no trace.

    Ok(match previous {
        Some(prev) => CodexConfigRecord {
            path: path.to_path_buf(),
            created: prev.created,
            original: prev.original.clone(),
            features_table_created: prev.features_table_created,
            hooks_previous: prev.hooks_previous.clone(),
            codex_hooks_previous: prev.codex_hooks_previous.clone(),
            trust: records,
        },
        None => CodexConfigRecord {
            path: path.to_path_buf(),
            created: original.is_none(),
            original: original.map(str::to_string),
            features_table_created,
            hooks_previous,
            codex_hooks_previous,
            trust: records,
        },
    })
}

/// The largest position of a table in the file (0 when there is none).
fn last_position(table: &Table) -> isize {
    table
        .iter()
        .flat_map(|(_, item)| match item {
            Item::Table(table) => vec![table],
            Item::ArrayOfTables(array) => array.iter().collect(),
            _ => Vec::new(),
        })
        .map(|table| table.position().unwrap_or(0).max(last_position(table)))
        .max()
        .unwrap_or(0)
}

fn implicit_table() -> Table {
    let mut table = Table::new();
    table.set_implicit(true);
    table
}

/// The value as written in the file, decoration (spaces, trailing comment) included.
fn value_text(value: &Value) -> String {
    value.to_string()
}

fn set_true(table: &mut Item, key: &str) {
    let existing = table.as_table_like_mut().and_then(|t| t.get_mut(key));
    match existing.and_then(Item::as_value_mut) {
        Some(Value::Boolean(b)) if *b.value() => {}
        Some(value) => {
            let decor = value.decor().clone();
            *value = Value::from(true);
            *value.decor_mut() = decor;
        }
        None => insert_laid_out(table, key, Value::from(true)),
    }
}

fn set_string(table: &mut Item, key: &str, text: &str) {
    let existing = table.as_table_like_mut().and_then(|t| t.get_mut(key));
    match existing.and_then(Item::as_value_mut) {
        Some(value) => {
            let decor = value.decor().clone();
            *value = Value::from(text);
            *value.decor_mut() = decor;
        }
        None => insert_laid_out(table, key, Value::from(text)),
    }
}

/// Adds `key = value` to the table `table` holds. In an inline table, on one line or
/// (TOML 1.1) over several, the new entry is laid out like the last one: the same
/// indentation and spacing, a trailing comma kept, and a comment after the last
/// entry left on that entry's line.
fn insert_laid_out(table: &mut Item, key: &str, value: Value) {
    match table {
        Item::Value(Value::InlineTable(inline)) => insert_inline(inline, key, value),
        other => {
            if let Some(table) = other.as_table_like_mut() {
                table.insert(key, Item::Value(value));
            }
        }
    }
}

/// Removes `key` from the table `table` holds; from the end of an inline table, the
/// reverse of [`insert_laid_out`]: the spacing and comment after the removed entry go
/// back to the entry before it.
fn remove_laid_out(table: &mut Item, key: &str) {
    let Item::Value(Value::InlineTable(inline)) = table else {
        if let Some(table) = table.as_table_like_mut() {
            table.remove(key);
        }
        return;
    };
    let is_last = inline.iter().last().is_some_and(|(last, _)| last == key);
    let raw = |text: Option<&toml_edit::RawString>| {
        text.and_then(toml_edit::RawString::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let Some((removed_key, removed)) = inline.remove_entry(key) else {
        return;
    };
    if !is_last || inline.is_empty() {
        return;
    }
    let prefix = raw(removed_key.leaf_decor().prefix());
    let note = prefix.split_once('\n').map_or("", |(note, _)| note);
    if inline.trailing_comma() {
        let trailing = format!("{note}{}", raw(Some(inline.trailing())));
        inline.set_trailing(trailing);
    } else if let Some((_, before)) = inline.iter_mut().last() {
        let suffix = format!("{note}{}", raw(removed.decor().suffix()));
        before.decor_mut().set_suffix(suffix);
    }
}

fn insert_inline(table: &mut toml_edit::InlineTable, key: &str, mut value: Value) {
    let raw = |text: Option<&toml_edit::RawString>| {
        text.and_then(toml_edit::RawString::as_str)
            .unwrap_or_default()
            .to_string()
    };
    // The last entry, if it is a plain `key = value` (not a dotted one).
    let last = table.iter().last().and_then(|(name, last)| {
        let plain = !matches!(last, Value::InlineTable(t) if t.is_dotted());
        plain.then_some(())?;
        let name = table.key(name)?;
        Some((
            raw(name.leaf_decor().prefix()),
            raw(name.leaf_decor().suffix()),
            raw(last.decor().prefix()),
            raw(last.decor().suffix()),
            name.get().to_string(),
        ))
    });
    let Some((key_prefix, key_suffix, value_prefix, value_suffix, last_key)) = last else {
        table.insert(key, value);
        return;
    };
    // A line break in the last key's prefix means one entry a line: indent alike.
    let indent = match key_prefix.rsplit_once('\n') {
        Some((_, indent)) => format!("\n{indent}"),
        None => key_prefix.clone(),
    };
    // What follows the last entry's value up to its line's end (a comment) stays
    // there, after the comma: in `trailing` with a trailing comma, in the value's
    // suffix without one.
    let after_last = if table.trailing_comma() {
        raw(Some(table.trailing()))
    } else {
        value_suffix.clone()
    };
    let (new_key_prefix, rest) = match after_last.split_once('\n') {
        Some((note, rest)) if indent.starts_with('\n') => {
            (format!("{note}{indent}"), format!("\n{rest}"))
        }
        _ => (indent, after_last),
    };
    if table.trailing_comma() {
        table.set_trailing(rest);
        value.decor_mut().set_suffix(value_suffix);
    } else {
        if let Some(last) = table.get_mut(&last_key) {
            last.decor_mut().set_suffix("");
        }
        value.decor_mut().set_suffix(rest);
    }
    value.decor_mut().set_prefix(value_prefix);
    let key = Key::new(key).with_leaf_decor(toml_edit::Decor::new(new_key_prefix, key_suffix));
    table.insert_formatted(&key, value);
}

/// With both `codex_hooks` and `hooks` set, the first of the two in the file goes,
/// handing the comment and blank lines above it to the key after it, and the later one
/// becomes `hooks` where it stands: every other line keeps its place.
fn merge_flag_names(table: &mut dyn toml_edit::TableLike) {
    let keys: Vec<String> = table.iter().map(|(k, _)| k.to_string()).collect();
    let at = |name: &str| keys.iter().position(|k| k == name);
    let (Some(old), Some(new)) = (at("codex_hooks"), at("hooks")) else {
        return;
    };
    let first = old.min(new);
    let prefix = |table: &dyn toml_edit::TableLike, key: &str| {
        table
            .key(key)
            .and_then(|k| k.leaf_decor().prefix())
            .and_then(|p| p.as_str())
            .unwrap_or_default()
            .to_string()
    };
    // The later of the two comes after the first, so the first has a next key.
    let next = &keys[first + 1];
    let handed = prefix(table, &keys[first]) + &prefix(table, next);
    if let Some(mut k) = table.key_mut(next) {
        k.leaf_decor_mut().set_prefix(handed);
    }
    table.remove(&keys[first]);
    if old > new {
        rename_key(table, "codex_hooks", "hooks");
    }
}

/// Renames a key in place, keeping its position, its comments and its value.
fn rename_key(table: &mut dyn toml_edit::TableLike, from: &str, to: &str) {
    let entries: Vec<(Key, Item)> = table
        .iter()
        .map(|(k, item)| {
            let key = table.key(k).cloned().unwrap_or_else(|| Key::new(k));
            (key, item.clone())
        })
        .collect();
    table.clear();
    for (key, item) in entries {
        if key.get() == from {
            let mut renamed = Key::new(to);
            *renamed.leaf_decor_mut() = key.leaf_decor().clone();
            *renamed.dotted_decor_mut() = key.dotted_decor().clone();
            insert_formatted(table, &renamed, item);
        } else {
            insert_formatted(table, &key, item);
        }
    }
}

fn insert_formatted(table: &mut dyn toml_edit::TableLike, key: &Key, item: Item) {
    table.insert(key.get(), item);
    if let Some(mut k) = table.key_mut(key.get()) {
        *k.leaf_decor_mut() = key.leaf_decor().clone();
        *k.dotted_decor_mut() = key.dotted_decor().clone();
    }
}

/// Removes a trust record codex-guard wrote: the hash it replaced (`previous`) comes
/// back, and its table goes unless the user had it before (`keep_table`).
fn remove_trusted_hash(state: &mut Table, key: &str, previous: Option<&str>, keep_table: bool) {
    let Some(entry) = state.get_mut(key).filter(|entry| entry.is_table_like()) else {
        return;
    };
    match previous {
        Some(hash) => set_string(entry, "trusted_hash", hash),
        None => {
            remove_laid_out(entry, "trusted_hash");
            let emptied = entry
                .as_table_like()
                .is_some_and(toml_edit::TableLike::is_empty);
            if emptied && !keep_table {
                state.remove(key);
            }
        }
    }
}

/// A trust record that must follow its handler to a new position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMove {
    pub from: String,
    pub to: String,
}

/// Takes codex-guard's edits back out. With the receipt, every recorded value is put
/// back (unless the user changed it since); without it, only the trust records in
/// `proven` (ours beyond doubt) go. Trust records of handlers that moved up because
/// ours were removed follow them (`moves`), so the user's hooks stay trusted.
/// Returns what was left alone and why.
pub fn unapply(
    doc: &mut DocumentMut,
    record: Option<&CodexConfigRecord>,
    proven: &[Trust],
    moves: &[KeyMove],
) -> Vec<String> {
    let mut notes = Vec::new();
    let root = doc.as_table_mut();

    if let Some(state) = root
        .get_mut("hooks")
        .and_then(Item::as_table_mut)
        .and_then(|h| h.get_mut("state"))
        .and_then(Item::as_table_mut)
    {
        let current = |state: &Table, key: &str| {
            state
                .get(key)
                .and_then(|e| e.get("trusted_hash"))
                .and_then(Item::as_str)
                .map(str::to_string)
        };
        for t in record.map(|r| r.trust.as_slice()).unwrap_or_default() {
            match current(state, &t.key) {
                Some(hash) if hash == t.trusted_hash => {
                    remove_trusted_hash(state, &t.key, t.previous.as_deref(), t.table_existed);
                }
                Some(_) => notes.push(format!(
                    "the trust record {:?} was changed after setup and is left as is",
                    t.key
                )),
                None => {}
            }
        }
        for t in proven {
            if current(state, &t.key).as_deref() == Some(t.hash.as_str()) {
                remove_trusted_hash(state, &t.key, None, false);
            }
        }
        for m in moves {
            if state.contains_key(&m.from) && !state.contains_key(&m.to) {
                if let Some(item) = state.remove(&m.from) {
                    state.insert(&m.to, item);
                }
            }
        }
    }

    let Some(record) = record else {
        notes.push("without an install receipt, [features] hooks is left as it is".into());
        return notes;
    };
    let mut features_item = root.get_mut("features");
    let mut remove_hooks = false;
    let features_empty = match features_item
        .as_deref_mut()
        .and_then(Item::as_table_like_mut)
    {
        Some(features) => {
            let ours = matches!(
                features.get("hooks").and_then(Item::as_value),
                Some(Value::Boolean(b)) if *b.value()
            );
            if ours {
                match (&record.hooks_previous, &record.codex_hooks_previous) {
                    (None, Some(old)) => {
                        rename_key(features, "hooks", "codex_hooks");
                        restore_value(features, "codex_hooks", old);
                    }
                    (Some(old), codex_old) => {
                        restore_value(features, "hooks", old);
                        // Both names were set: the old one comes back too.
                        if let Some(codex_old) = codex_old {
                            if !features.contains_key("codex_hooks") {
                                restore_value(features, "codex_hooks", codex_old);
                            }
                        }
                    }
                    (None, None) => remove_hooks = true,
                }
            } else if features.contains_key("hooks") {
                notes.push("[features] hooks was changed after setup and is left as is".into());
            }
            features.len() == usize::from(remove_hooks)
        }
        None => false,
    };
    if let (true, Some(features)) = (remove_hooks, features_item) {
        remove_laid_out(features, "hooks");
    }
    if record.features_table_created && features_empty {
        root.remove("features");
    }
    notes
}

/// Puts back a value recorded as its TOML text (decoration included).
fn restore_value(table: &mut dyn toml_edit::TableLike, key: &str, text: &str) {
    let parsed = format!("x ={text}\n")
        .parse::<DocumentMut>()
        .ok()
        .and_then(|d| d.get("x").and_then(Item::as_value).cloned());
    match (parsed, table.get_mut(key).and_then(Item::as_value_mut)) {
        (Some(value), Some(slot)) => *slot = value,
        (Some(value), None) => {
            table.insert(key, Item::Value(value));
        }
        (None, _) => {}
    }
}

/// Whether two TOML texts hold the same data (formatting and comments aside).
pub fn same_data(a: &str, b: &str) -> bool {
    match (a.parse::<toml::Table>(), b.parse::<toml::Table>()) {
        (Ok(a), Ok(b)) => same_table(&a, &b),
        _ => false,
    }
}

fn same_table(a: &toml::Table, b: &toml::Table) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|(key, x)| b.get(key).is_some_and(|y| same_value(x, y)))
}

/// Equality of data as written: `nan = nan` holds, `0.0` and `-0.0` differ.
fn same_value(a: &toml::Value, b: &toml::Value) -> bool {
    use toml::Value::{Array, Float, Table};
    match (a, b) {
        (Float(x), Float(y)) => {
            x.to_bits() == y.to_bits()
                || (x.is_nan() && y.is_nan() && x.is_sign_negative() == y.is_sign_negative())
        }
        (Array(x), Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_value(x, y))
        }
        (Table(x), Table(y)) => same_table(x, y),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/h/.codex/config.toml";

    fn edit(text: &str, trust: &[Trust]) -> (String, CodexConfigRecord) {
        let mut doc = parse(text, Path::new(PATH)).unwrap();
        let record = apply(&mut doc, Path::new(PATH), trust, None, Some(text)).unwrap();
        (doc.to_string(), record)
    }

    fn t(key: &str, hash: &str) -> Trust {
        Trust {
            key: key.into(),
            hash: hash.into(),
        }
    }

    #[test]
    fn comments_and_unrelated_keys_keep_their_bytes() {
        let before = "# my settings\nmodel = \"gpt-5.4\"   # the best one\n\n[features]\n# keep this\nweb_search = true\n\n[profiles.x]\nmodel = \"o3\"\n";
        let (after, record) = edit(before, &[t("/h/.codex/hooks.json:stop:0:0", "sha256:ab")]);
        assert_eq!(
            after,
            "# my settings\nmodel = \"gpt-5.4\"   # the best one\n\n[features]\n# keep this\nweb_search = true\nhooks = true\n\n[profiles.x]\nmodel = \"o3\"\n\n[hooks.state.\"/h/.codex/hooks.json:stop:0:0\"]\ntrusted_hash = \"sha256:ab\"\n"
        );
        assert!(!record.features_table_created);
        assert_eq!(record.hooks_previous, None);
        assert_eq!(record.trust[0].previous, None);
    }

    #[test]
    fn a_missing_features_table_is_added_after_a_blank_line() {
        let (after, record) = edit("model = \"x\"\n", &[]);
        assert_eq!(after, "model = \"x\"\n\n[features]\nhooks = true\n");
        assert!(record.features_table_created);
        let (after, _) = edit("", &[]);
        assert_eq!(after, "[features]\nhooks = true\n");
    }

    #[test]
    fn deprecated_codex_hooks_is_renamed_in_place_with_its_comment() {
        let before = "[features]\n# enable hooks\ncodex_hooks = false # off for now\nother = 1\n";
        let (after, record) = edit(before, &[]);
        assert_eq!(
            after,
            "[features]\n# enable hooks\nhooks = true # off for now\nother = 1\n"
        );
        assert_eq!(
            record.codex_hooks_previous.as_deref(),
            Some(" false # off for now")
        );
    }

    #[test]
    fn hooks_false_is_turned_on_and_remembered() {
        let (after, record) = edit("[features]\nhooks = false\n", &[]);
        assert_eq!(after, "[features]\nhooks = true\n");
        assert_eq!(record.hooks_previous.as_deref(), Some(" false"));
    }

    #[test]
    fn dotted_and_inline_features_work() {
        let (after, _) = edit("features.web_search = true\n", &[]);
        assert!(after.contains("features.hooks = true"), "{after}");
        let (after, _) = edit("features = { web_search = true }\n", &[]);
        assert!(after.contains("hooks = true"), "{after}");
    }

    #[test]
    fn second_apply_is_byte_identical() {
        let trust = [t("/h/.codex/hooks.json:pre_tool_use:1:0", "sha256:01")];
        let (once, record) = edit("# c\n[features]\nhooks = true\n", &trust);
        let mut doc = parse(&once, Path::new(PATH)).unwrap();
        apply(
            &mut doc,
            Path::new(PATH),
            &trust,
            Some(&record),
            Some(&once),
        )
        .unwrap();
        assert_eq!(doc.to_string(), once);
    }

    #[test]
    fn moved_trust_records_are_replaced_and_foreign_ones_kept() {
        let first = [t("/h/hooks.json:stop:0:0", "sha256:aa")];
        let (once, record) = edit(
            "[hooks.state.\"/h/hooks.json:stop:1:0\"]\ntrusted_hash = \"sha256:user\"\n",
            &first,
        );
        let moved = [t("/h/hooks.json:stop:2:0", "sha256:aa")];
        let mut doc = parse(&once, Path::new(PATH)).unwrap();
        apply(
            &mut doc,
            Path::new(PATH),
            &moved,
            Some(&record),
            Some(&once),
        )
        .unwrap();
        let text = doc.to_string();
        assert!(
            text.contains("stop:1:0\"]\ntrusted_hash = \"sha256:user\""),
            "{text}"
        );
        assert!(!text.contains("stop:0:0"), "{text}");
        assert!(text.contains("stop:2:0"), "{text}");
    }

    fn undo(text: &str, record: &CodexConfigRecord) -> String {
        let mut doc = parse(text, Path::new(PATH)).unwrap();
        unapply(&mut doc, Some(record), &[], &[]);
        doc.to_string()
    }

    #[test]
    fn unapply_gives_back_the_original_bytes() {
        let trust = [t("/h/hooks.json:stop:0:0", "sha256:aa")];
        for original in [
            "# c\nmodel = \"x\"\n",
            "",
            "[features]\n# enable hooks\ncodex_hooks = false # off for now\nother = 1\n",
            "[features]\nhooks = false\n",
            "[features]\nhooks = true\n\n[hooks.state.\"/h/hooks.json:stop:0:0\"]\ntrusted_hash = \"sha256:old\"\n",
            "[features]\nhooks = true\n\n[hooks.state.\"/h/hooks.json:stop:0:0\"]\n# emptied by hand\n",
        ] {
            let (installed, record) = edit(original, &trust);
            assert_eq!(undo(&installed, &record), original, "{installed}");
        }
    }

    #[test]
    fn unapply_leaves_what_the_user_changed_since() {
        let (installed, record) = edit(
            "model = \"x\"\n",
            &[t("/h/hooks.json:stop:0:0", "sha256:aa")],
        );
        let edited = "approval_policy = \"never\"\n".to_string()
            + &installed.replace("hooks = true", "hooks = false");
        let mut doc = parse(&edited, Path::new(PATH)).unwrap();
        let notes = unapply(&mut doc, Some(&record), &[], &[]);
        let text = doc.to_string();
        assert!(text.contains("hooks = false"), "{text}");
        assert!(!text.contains("stop:0:0"), "{text}");
        assert_eq!(notes.len(), 1);
    }

    #[test]
    fn moved_user_records_follow_their_handler() {
        let mut doc = parse(
            "[hooks.state.\"/h/hooks.json:stop:1:0\"]\ntrusted_hash = \"sha256:user\"\n",
            Path::new(PATH),
        )
        .unwrap();
        let moves = [KeyMove {
            from: "/h/hooks.json:stop:1:0".into(),
            to: "/h/hooks.json:stop:0:0".into(),
        }];
        unapply(&mut doc, None, &[], &moves);
        assert!(
            doc.to_string()
                .contains("stop:0:0\"]\ntrusted_hash = \"sha256:user\""),
            "{doc}"
        );
    }

    #[test]
    fn invalid_toml_names_the_line() {
        let err = parse("a = 1\nb = = 2\n", Path::new(PATH)).unwrap_err();
        assert!(err.message.contains("line 2, column 5"), "{}", err.message);
        assert_eq!(err.code, crate::failure::ExitCode::BadInput);
    }

    #[test]
    fn a_features_flag_written_as_a_table_is_refused_and_left_alone() {
        for text in [
            "[features]\nhooks.w = 1\n",
            "[features.codex_hooks]\nx = true\n",
        ] {
            let mut doc = parse(text, Path::new(PATH)).unwrap();
            let err = apply(&mut doc, Path::new(PATH), &[], None, None).unwrap_err();
            assert_eq!(err.code, crate::failure::ExitCode::BadInput);
            assert!(err.message.contains("is a table"), "{}", err.message);
            assert_eq!(doc.to_string(), text);
        }
    }

    #[test]
    fn a_trust_record_that_is_not_a_string_is_refused_and_left_alone() {
        let key = "/h/.codex/hooks.json:stop:0:0";
        let text = format!("[hooks.state]\n\"{key}\" = {{ trusted_hash = true }}\n");
        let mut doc = parse(&text, Path::new(PATH)).unwrap();
        let trust = [Trust {
            key: key.into(),
            hash: "sha256:ab".into(),
        }];
        let err = apply(&mut doc, Path::new(PATH), &trust, None, None).unwrap_err();
        assert_eq!(err.code, crate::failure::ExitCode::BadInput);
        assert!(err.message.contains("is not a string"), "{}", err.message);
    }

    #[test]
    fn same_data_compares_what_is_written() {
        assert!(same_data("[os]\na = nan\n", "[os]\n# c\na=nan"));
        assert!(same_data("a = [-nan, 1.5]", "a = [ -nan , 1.5 ]"));
        assert!(!same_data("a = nan", "a = -nan"));
        assert!(!same_data("a = 0.0", "a = -0.0"));
        assert!(!same_data("a = 1", "a = 1\nb = 2"));
        assert!(!same_data("a = 1", "a = ="));
    }

    #[test]
    fn crlf_files_keep_their_line_endings() {
        let before = "# mine\r\nmodel = \"o3\"\r\n\r\n[features]\r\nweb_search = true\r\n";
        let mut doc = parse(before, Path::new(PATH)).unwrap();
        let trust = [t("/h/.codex/hooks.json:stop:0:0", "sha256:ab")];
        let record = apply(&mut doc, Path::new(PATH), &trust, None, Some(before)).unwrap();
        let after = render(&doc, before);
        assert_eq!(
            after,
            "# mine\r\nmodel = \"o3\"\r\n\r\n[features]\r\nweb_search = true\r\nhooks = true\r\n\r\n[hooks.state.\"/h/.codex/hooks.json:stop:0:0\"]\r\ntrusted_hash = \"sha256:ab\"\r\n"
        );
        let mut doc = parse(&after, Path::new(PATH)).unwrap();
        unapply(&mut doc, Some(&record), &[], &[]);
        assert_eq!(render(&doc, &after), before);
        // A file without a final newline gets one; that changes no line.
        let mut doc = parse("a = 1\r\nb = 2", Path::new(PATH)).unwrap();
        assert!(apply(&mut doc, Path::new(PATH), &[], None, Some("a = 1\r\nb = 2")).is_ok());
    }

    #[test]
    fn files_that_cannot_be_written_back_line_for_line_are_refused() {
        for (text, line, why) in [
            ("a = 1\r\nb = 2\nc = 3\r\n", 1, "line endings"),
            (
                "# providers\nmodel_providers.x.name = \"x\"\nmodel = \"o3\"\nmodel_providers.x.base_url = \"u\"\n",
                3,
                "spread over the file",
            ),
            ("a.x = 1\r\nb = 2\r\na.y = 3\r\n", 2, "spread over the file"),
        ] {
            let mut doc = parse(text, Path::new(PATH)).unwrap();
            assert_eq!(layout_change(&doc, text).map(|(l, _)| l), Some(line), "{text:?}");
            let err = apply(&mut doc, Path::new(PATH), &[], None, Some(text)).unwrap_err();
            assert_eq!(err.code, crate::failure::ExitCode::BadInput);
            assert!(err.message.contains(&format!("line {line} ")), "{}", err.message);
            assert!(err.message.contains(why), "{}", err.message);
        }
    }

    #[test]
    fn tables_setup_adds_go_at_the_end_of_the_file() {
        // A header after its subtable: written back as it is, so setup edits it.
        let trust = [t("/h/hooks.json:stop:0:0", "sha256:aa")];
        for text in [
            "[a.b.c]\n\n[a]\n\nb.d.e = 2\n",
            "[x]\n[y]\n[x.sub]\nk = 1\n",
            "[[x]]\n[y]\n[[x]]\n",
        ] {
            let doc = parse(text, Path::new(PATH)).unwrap();
            assert_eq!(layout_change(&doc, text), None, "{text}");
            let (installed, record) = edit(text, &trust);
            assert_eq!(
                installed,
                format!("{text}\n[features]\nhooks = true\n\n[hooks.state.\"/h/hooks.json:stop:0:0\"]\ntrusted_hash = \"sha256:aa\"\n")
            );
            assert_eq!(undo(&installed, &record), text);
        }
    }

    #[test]
    fn both_flag_names_become_one_and_their_comments_stay() {
        for (before, after) in [
            (
                "[features]\n#e\ncodex_hooks = false # off\n\nhooks = \"o3\"\n",
                "[features]\n#e\n\nhooks = true\n",
            ),
            (
                "[features]\nhooks = false\n# about the old one\ncodex_hooks = true\nother = 1\n",
                "[features]\n# about the old one\nhooks = true\nother = 1\n",
            ),
            (
                "[features]\n#e\ncodex_hooks = false # o\nh = false\nhooks = \"o3\"\n",
                "[features]\n#e\nh = false\nhooks = true\n",
            ),
            (
                "[features]\nhooks = false # new\nx = 1\n# old one\ncodex_hooks = true # legacy\n",
                "[features]\nx = 1\n# old one\nhooks = true # legacy\n",
            ),
            (
                "# c\n# old\nfeatures.codex_hooks = false\nfeatures.hooks = false\n",
                "# c\n# old\nfeatures.hooks = true\n",
            ),
        ] {
            let (installed, record) = edit(before, &[]);
            assert_eq!(installed, after);
            let mut doc = parse(&installed, Path::new(PATH)).unwrap();
            unapply(&mut doc, Some(&record), &[], &[]);
            assert!(same_data(&doc.to_string(), before), "{doc}");
        }
    }

    #[test]
    fn an_edit_the_next_run_would_regroup_is_refused() {
        // Found by fuzzing: inline trust entries after `[hooks.*]` tables spread around.
        let text =
            include_str!("../../../fuzz/corpus/config_toml_edit/trust-records-regrouped-on-reread");
        let path = Path::new("/home/dev/.codex/config.toml");
        let mut doc = parse(text, path).unwrap();
        assert_eq!(
            layout_change(&doc, text),
            None,
            "the file itself reads back"
        );
        let trust = [t(
            "/home/dev/.codex/hooks.json:session_start:0:0",
            "sha256:01",
        )];
        let err = apply(&mut doc, path, &trust, None, Some(text)).unwrap_err();
        assert_eq!(err.code, crate::failure::ExitCode::BadInput);
        assert!(
            err.message.contains("would be rewritten by the next run"),
            "{}",
            err.message
        );
    }

    #[test]
    fn non_table_features_is_refused() {
        let mut doc = parse("features = 3\n", Path::new(PATH)).unwrap();
        assert!(apply(&mut doc, Path::new(PATH), &[], None, None).is_err());
    }

    #[test]
    fn a_key_added_to_an_inline_table_is_laid_out_like_the_last_entry() {
        let trust = [t("/h/.codex/hooks.json:stop:0:0", "sha256:ab")];
        for (before, features_after) in [
            (
                "features = { web_search = true }\n",
                "features = { web_search = true, hooks = true }\n",
            ),
            (
                "features = { web_search = true, }\n",
                "features = { web_search = true, hooks = true, }\n",
            ),
            (
                "features = {\n  web_search = true\n}\n",
                "features = {\n  web_search = true,\n  hooks = true\n}\n",
            ),
            (
                "features = {\n  web_search = true,\n}\n",
                "features = {\n  web_search = true,\n  hooks = true,\n}\n",
            ),
            (
                "features = {\n  web_search = true, # on\n}\n",
                "features = {\n  web_search = true, # on\n  hooks = true,\n}\n",
            ),
            (
                "features = {\n  web_search = true # on\n}\n",
                "features = {\n  web_search = true, # on\n  hooks = true\n}\n",
            ),
            (
                "features = {\n  # mine\n  web_search = true,\n  # end\n}\n",
                "features = {\n  # mine\n  web_search = true,\n  hooks = true,\n  # end\n}\n",
            ),
            (
                "features = { x.y = 1 }\n",
                "features = { x.y = 1 , hooks = true }\n",
            ),
        ] {
            let (installed, record) = edit(before, &trust);
            assert_eq!(
                installed,
                format!("{features_after}\n[hooks.state.\"/h/.codex/hooks.json:stop:0:0\"]\ntrusted_hash = \"sha256:ab\"\n"),
                "{before:?}"
            );
            assert_eq!(undo(&installed, &record), before, "{installed}");
        }
    }

    #[test]
    fn a_trust_record_added_to_an_inline_entry_is_laid_out_like_its_keys() {
        let key = "/h/.codex/hooks.json:stop:0:0";
        let before = format!("[hooks.state]\n\"{key}\" = {{\n  enabled = true,\n}}\n");
        let (installed, record) = edit(&before, &[t(key, "sha256:ab")]);
        assert_eq!(
            installed,
            format!("[hooks.state]\n\"{key}\" = {{\n  enabled = true,\n  trusted_hash = \"sha256:ab\",\n}}\n\n[features]\nhooks = true\n")
        );
        assert_eq!(undo(&installed, &record), before);
    }

    #[test]
    fn toml_1_1_escapes_and_multi_line_inline_tables_keep_their_bytes() {
        let trust = [t("/h/.codex/hooks.json:stop:0:0", "sha256:ab")];
        let before = "notify = [\"say\", \"\\e[1mdone\\x21\"]\nmcp_servers.docs = {\n  command = \"d\",   # local\n  env = { A = \"\\x41\", },\n}\n\n[features]\ncodex_hooks = false # old\n";
        let (installed, record) = edit(before, &trust);
        assert_eq!(
            installed,
            before.replace("codex_hooks = false", "hooks = true")
                + "\n[hooks.state.\"/h/.codex/hooks.json:stop:0:0\"]\ntrusted_hash = \"sha256:ab\"\n"
        );
        assert_eq!(undo(&installed, &record), before);
        let data: toml::Table = installed.parse().unwrap();
        assert_eq!(data["notify"][1].as_str(), Some("\u{1b}[1mdone!"));
    }

    #[test]
    fn invalid_toml_1_1_names_the_line_and_column_and_no_cause() {
        for (text, at) in [
            ("a = \"\\q\"\n", "line 1, column 7"),
            ("a = 1\nb = { c = 1,, }\n", "line 2, column 13"),
            ("a = 1\na = 2\n", "line 2, column 1"),
            ("[t]\nx = \"\\x4\"\n", "line 2, column 9"),
            ("é = 1\n", "line 1, column 1"),
        ] {
            let err = parse(text, Path::new(PATH)).unwrap_err();
            assert_eq!(err.code, crate::failure::ExitCode::BadInput);
            assert!(
                err.message
                    .starts_with(&format!("{PATH} is not valid TOML 1.1 at {at}: ")),
                "{text:?}: {}",
                err.message
            );
            let line = &at[..at.find(',').unwrap()];
            assert_eq!(
                err.hint.as_deref(),
                Some(
                    format!("fix {line} of {PATH} and run setup again; nothing was changed")
                        .as_str()
                )
            );
        }
    }

    #[test]
    fn edit_gives_what_apply_and_render_give() {
        let trust = [t("/h/.codex/hooks.json:stop:0:0", "sha256:ab")];
        let regrouped =
            include_str!("../../../fuzz/corpus/config_toml_edit/trust-records-regrouped-on-reread");
        for before in [
            None,
            Some(""),
            Some("# c\r\nmodel = \"o3\"\r\n"),
            Some("[features]\ncodex_hooks = false # old\n"),
            Some("features = {\n  web_search = true,\n}\n"),
            Some("a.x = 1\nb = 2\na.y = 3\n"),
            Some("features = 3\n"),
            Some(regrouped),
        ] {
            let text = before.unwrap_or("");
            let mut doc = parse(text, Path::new(PATH)).unwrap();
            let expected = apply(&mut doc, Path::new(PATH), &trust, None, before)
                .map(|record| (render(&doc, text), record));
            let got = super::edit(before, Path::new(PATH), &trust, None);
            match (got, expected) {
                (Ok(got), Ok(expected)) => {
                    assert_eq!(got, expected, "{before:?}");
                    // Run again on its own output: nothing changes.
                    let again = super::edit(Some(&got.0), Path::new(PATH), &trust, Some(&got.1));
                    assert_eq!(again.unwrap(), got, "{before:?}");
                }
                (Err(got), Err(expected)) => assert_eq!(got.message, expected.message),
                (got, expected) => panic!("{before:?}: {got:?} but {expected:?}"),
            }
        }
    }
}
