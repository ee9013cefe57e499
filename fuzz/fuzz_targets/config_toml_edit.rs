//! config.toml edit: for any config Codex would accept, setup's edit gives valid TOML
//! with hooks on and our trust records; a second setup changes nothing; and
//! uninstall's edit gives back the user's data, so merge then unmerge is the identity.
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
    let installed = doc.to_string();
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
        again.to_string(),
        installed,
        "a second setup changes nothing"
    );

    let mut removed = codex_config::parse(&installed, path).expect("parses");
    codex_config::unapply(&mut removed, Some(&record), &[], &[]);
    let removed = removed.to_string();
    assert!(
        codex_config::same_data(&removed, text),
        "uninstall gives the user's data back\n--- before\n{text}\n--- after uninstall\n{removed}"
    );
});
