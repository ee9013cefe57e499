//! hooks.json merge: for any file Codex would accept, setup's merge gives a file Codex
//! accepts, with each of our handlers once and where the trust records say; merging
//! again changes nothing; and removing ours gives back the user's document.
#![no_main]

use codex_guard::edit::hooks_json::{self, Target};
use codex_guard_common::events::Event;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use std::path::Path;

const COMMAND: &str = "'/home/dev/.codex/codex-guard/bin/codex-guard-hook'";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/home/dev/.codex/hooks.json");
    let Ok(user) = hooks_json::parse(text, path) else {
        return;
    };
    let ours = vec![COMMAND.to_string()];
    let is_ours = |h: &Map<String, Value>| hooks_json::runs_one_of(h, &ours);
    let rendered = hooks_json::render_template(COMMAND, 8, &Target::Unix);

    let (merged, placed) = hooks_json::merge(Some(user.clone()), &rendered, &is_ours);
    let written = hooks_json::to_text(&merged, text);
    let reread = hooks_json::parse(&written, path).expect("the merged file is one Codex reads");
    assert_eq!(reread, merged);
    if text.contains("\r\n") && !text.replace("\r\n", "").contains('\n') {
        assert!(
            !written.replace("\r\n", "").contains('\n'),
            "line endings kept"
        );
    }

    // Each event once, at the position its trust record is computed for.
    assert_eq!(placed.len(), Event::ALL.len());
    for p in &placed {
        let handler = &merged["hooks"][p.event.name()][p.group]["hooks"][p.handler_index];
        assert_eq!(handler.as_object(), Some(&p.handler));
        assert!(is_ours(&p.handler));
        let matcher = merged["hooks"][p.event.name()][p.group]
            .get("matcher")
            .and_then(Value::as_str);
        assert_eq!(matcher, p.matcher.as_deref());
    }

    let (again, placed_again) = hooks_json::merge(Some(merged.clone()), &rendered, &is_ours);
    assert_eq!(again, merged, "a second setup changes nothing");
    assert_eq!(placed_again, placed);

    // A file with none of our handlers in it comes back exactly.
    if !text.contains("codex-guard-hook") {
        let removal = hooks_json::unmerge(merged, Some(&user), &is_ours);
        assert_eq!(removal.value, user);
        assert_eq!(removal.removed.len(), Event::ALL.len());
    }
});
