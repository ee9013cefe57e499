//! config.toml edit: for any config Codex would accept, setup's edit gives valid TOML
//! with hooks on and our trust records; a second setup changes nothing; and
//! uninstall's edit gives back the user's data, so merge then unmerge is the identity.
//! Every line setup has no reason to touch is still there, in order, with its bytes
//! and line ending.
#![no_main]

use codex_guard::codex_config::{self, Trust};
use codex_guard_common::events::Event;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

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

/// The lines of `before` that do not name what setup edits (`features`, `hooks`,
/// `trusted_hash`) are, in order and byte for byte, lines of `after`.
fn assert_lines_kept(before: &str, after: &str) {
    let mut after_lines = after.split_inclusive('\n');
    let ends_without_newline = !before.is_empty() && !before.ends_with('\n');
    let count = before.split_inclusive('\n').count();
    for (i, line) in before.split_inclusive('\n').enumerate() {
        if ["features", "hooks", "trusted_hash"]
            .iter()
            .any(|edited| line.contains(edited))
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
