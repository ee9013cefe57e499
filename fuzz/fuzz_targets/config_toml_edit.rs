//! config.toml edit: for any config Codex would accept, setup's edit gives valid TOML
//! with hooks on and our trust records; a second setup changes nothing; and
//! uninstall's edit gives back the user's data, so merge then unmerge is the identity.
//! Every line setup has no reason to touch is still there, in order, with its bytes
//! and line ending.
#![no_main]

use codex_guard::edit::codex_config::{self, Trust};
use codex_guard_common::events::Event;
use libfuzzer_sys::fuzz_target;
use std::ops::Range;
use std::path::Path;
use toml_edit::{Document, Item};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/home/dev/.codex/config.toml");
    let Ok(mut doc) = codex_config::parse(text, path) else {
        return;
    };
    let trust: Vec<Trust> = Event::ALL
        .iter()
        .enumerate()
        .map(|(i, event)| Trust {
            key: format!("/home/dev/.codex/hooks.json:{}:{i}:0", event.snake_name()),
            hash: format!("sha256:{:064x}", i + 1),
        })
        .collect();
    // A `features` or `hooks` that is not a table is refused with a message.
    let Ok(record) = codex_config::apply(&mut doc, path, &trust, None, Some(text)) else {
        return;
    };
    let installed = codex_config::render(&doc, text);
    assert_lines_kept(text, &installed);
    let data: toml::Table = installed.parse().expect("setup writes valid TOML");
    assert_eq!(
        data["features"]["hooks"].as_bool(),
        Some(true),
        "{installed}"
    );
    for t in &trust {
        assert_eq!(
            data["hooks"]["state"][&t.key]["trusted_hash"].as_str(),
            Some(t.hash.as_str()),
            "{installed}"
        );
    }

    let mut again = codex_config::parse(&installed, path).expect("parses");
    codex_config::apply(&mut again, path, &trust, Some(&record), Some(&installed))
        .expect("a second setup");
    assert_eq!(
        codex_config::render(&again, &installed),
        installed,
        "a second setup changes nothing"
    );

    let mut removed = codex_config::parse(&installed, path).expect("parses");
    codex_config::unapply(&mut removed, Some(&record), &[], &[]);
    let removed = codex_config::render(&removed, &installed);
    assert!(
        codex_config::same_data(&removed, text),
        "uninstall gives the user's data back\n--- before\n{text}\n--- after uninstall\n{removed}"
    );
});

/// The lines of `before` that neither name what setup edits (`features`, `hooks`,
/// `trusted_hash`) nor hold part of a value it replaces are, in order and byte for
/// byte, lines of `after`.
fn assert_lines_kept(before: &str, after: &str) {
    let replaced = replaced_values(before);
    let mut after_lines = after.split_inclusive('\n');
    let ends_without_newline = !before.is_empty() && !before.ends_with('\n');
    let count = before.split_inclusive('\n').count();
    let mut start = 0;
    for (i, line) in before.split_inclusive('\n').enumerate() {
        let span = start..start + line.len();
        start = span.end;
        if ["features", "hooks", "trusted_hash"]
            .iter()
            .any(|edited| line.contains(edited))
            || replaced
                .iter()
                .any(|r| r.start < span.end && span.start < r.end)
        {
            continue;
        }
        // The last line gains the file's line ending if it had none.
        let last_open = ends_without_newline && i + 1 == count;
        let kept = |l: &str| {
            l == line || (last_open && (l == format!("{line}\n") || l == format!("{line}\r\n")))
        };
        assert!(
            after_lines.any(kept),
            "line {} ({line:?}) is not kept\n--- before\n{before}\n--- after\n{after}",
            i + 1
        );
    }
}

/// Where the values of `features.hooks` and `features.codex_hooks` are in `text`: a
/// value written over several lines is replaced whole.
fn replaced_values(text: &str) -> Vec<Range<usize>> {
    let Ok(doc) = Document::parse(text) else {
        return Vec::new();
    };
    let Some(features) = doc.get("features").and_then(Item::as_table_like) else {
        return Vec::new();
    };
    ["hooks", "codex_hooks"]
        .iter()
        .filter_map(|key| features.get(key).and_then(Item::span))
        .collect()
}
