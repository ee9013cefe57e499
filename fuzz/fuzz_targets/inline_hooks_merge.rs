//! Inline hooks in config.toml: for any config Codex would accept, adding our
//! `[[hooks.<Event>]]` tables gives a file that reads back with each of our handlers
//! once, where the trust records say; adding them again changes nothing; and taking
//! them out gives back the user's data.
#![no_main]

use codex_guard::edit::codex_config;
use codex_guard::edit::hooks_json::{self, Target};
use codex_guard::edit::inline_hooks;
use codex_guard_common::events::Event;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use std::path::Path;

const COMMAND: &str = "'/home/dev/.codex/codex-guard/bin/codex-guard-hook'";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/home/dev/.codex/config.toml");
    let Ok(mut doc) = codex_config::parse(text, path) else {
        return;
    };
    let ours = vec![COMMAND.to_string()];
    let is_ours = |h: &Map<String, Value>| hooks_json::runs_one_of(h, &ours);
    let rendered = hooks_json::render_template(COMMAND, 8, &Target::Unix);
    let before = inline_hooks::as_json(&doc)["hooks"].take();
    // A `hooks` that is not a table, or an event written as an inline array, is refused
    // with a message; so is a file whose lines would be regrouped.
    let Ok(placed) = inline_hooks::merge(&mut doc, path, &rendered, &is_ours) else {
        return;
    };
    if inline_hooks::check_reads_back(&doc, path).is_err() {
        return;
    }
    let merged = doc.to_string();
    let reread = codex_config::parse(&merged, path).expect("the merged file parses");
    let events = inline_hooks::as_json(&reread)["hooks"].take();
    assert_eq!(placed.len(), Event::ALL.len());
    for p in &placed {
        let handler = &events[p.event.name()][p.group]["hooks"][p.handler_index];
        assert_eq!(
            handler.as_object(),
            Some(&p.handler),
            "{} at {}: {merged}",
            p.event.name(),
            p.group
        );
    }

    let mut again = reread.clone();
    let placed_again = inline_hooks::merge(&mut again, path, &rendered, &is_ours)
        .expect("a second merge of a file the first wrote");
    assert_eq!(placed_again, placed);
    assert_eq!(again.to_string(), merged, "a second merge changes nothing");

    let mut removed = reread;
    inline_hooks::remove(&mut removed, &is_ours);
    let after = inline_hooks::as_json(&removed)["hooks"].take();
    // The user's own groups, in order, as they were (an event left empty goes).
    let without_empty = |v: &Value| -> Value {
        let mut map = v.as_object().cloned().unwrap_or_default();
        map.retain(|_, groups| groups.as_array().is_none_or(|g| !g.is_empty()));
        Value::Object(map)
    };
    let users_before: Value = {
        let mut map = before.as_object().cloned().unwrap_or_default();
        for groups in map.values_mut() {
            if let Some(list) = groups.as_array_mut() {
                list.retain(|g| {
                    !g["hooks"].as_array().is_some_and(|hs| {
                        !hs.is_empty() && hs.iter().all(|h| h.as_object().is_some_and(is_ours))
                    })
                });
            }
        }
        Value::Object(map)
    };
    assert_eq!(
        without_empty(&after),
        without_empty(&users_before),
        "{merged}"
    );
});
