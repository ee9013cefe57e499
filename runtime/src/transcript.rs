//! Finds the user's last prompt in Codex's rollout file (`transcript_path`) for
//! the Stop record, reading only the file's tail so a huge transcript costs no
//! more than a small one.

use serde_json::Value;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// First read from the end of the file.
const FIRST_CHUNK: u64 = 64 * 1024;
/// Never read more than this, however long the last turn was.
const MAX_TAIL: u64 = 8 * 1024 * 1024;

/// The last prompt the user typed, if the tail of the transcript holds one.
pub fn last_user_prompt(path: &Path) -> Option<String> {
    let mut file = File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let mut window = FIRST_CHUNK.min(len);
    loop {
        let start = len - window;
        file.seek(SeekFrom::Start(start)).ok()?;
        let mut buf = Vec::with_capacity(usize::try_from(window).unwrap_or(0));
        (&mut file).take(window).read_to_end(&mut buf).ok()?;
        // A window that starts mid-file begins mid-line: skip that partial line.
        let text = String::from_utf8_lossy(&buf);
        let complete = if start == 0 {
            &text[..]
        } else {
            text.split_once('\n').map_or("", |(_, rest)| rest)
        };
        if let Some(prompt) = complete.lines().rev().find_map(prompt_of_line) {
            return Some(prompt);
        }
        if start == 0 || window >= MAX_TAIL {
            return None;
        }
        window = (window * 4).min(len).min(MAX_TAIL);
    }
}

/// A rollout line that carries a user prompt: an `event_msg` of type `user_message`,
/// or a user `message` `response_item` that is not context Codex injected itself.
fn prompt_of_line(line: &str) -> Option<String> {
    if !line.contains("user") {
        return None;
    }
    let value: Value = serde_json::from_str(line).ok()?;
    let payload = value.get("payload")?;
    match value.get("type")?.as_str()? {
        "event_msg" if payload.get("type")?.as_str()? == "user_message" => {
            Some(payload.get("message")?.as_str()?.to_string())
        }
        "response_item"
            if payload.get("type")?.as_str()? == "message"
                && payload.get("role")?.as_str()? == "user" =>
        {
            let text: String = payload
                .get("content")?
                .as_array()?
                .iter()
                .filter_map(|c| c.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n");
            let injected = [
                "<environment_context>",
                "<user_instructions>",
                "# AGENTS.md",
            ]
            .iter()
            .any(|p| text.trim_start().starts_with(p));
            (!injected && !text.is_empty()).then_some(text)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn finds_the_last_prompt_past_injected_context_and_long_tails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rollout.jsonl");
        let mut f = File::create(&path).unwrap();
        writeln!(f, r#"{{"type":"session_meta","payload":{{"id":"s"}}}}"#).unwrap();
        writeln!(f, r#"{{"type":"response_item","payload":{{"type":"message","role":"user","content":[{{"type":"input_text","text":"first prompt"}}]}}}}"#).unwrap();
        writeln!(f, r#"{{"type":"event_msg","payload":{{"type":"user_message","message":"second prompt"}}}}"#).unwrap();
        writeln!(f, r#"{{"type":"response_item","payload":{{"type":"message","role":"user","content":[{{"type":"input_text","text":"<environment_context>x</environment_context>"}}]}}}}"#).unwrap();
        // A long turn after the prompt: more than the first chunk.
        let filler = "y".repeat(1000);
        for _ in 0..200 {
            writeln!(
                f,
                r#"{{"type":"response_item","payload":{{"type":"reasoning","text":"{filler}"}}}}"#
            )
            .unwrap();
        }
        drop(f);
        assert_eq!(last_user_prompt(&path).as_deref(), Some("second prompt"));
    }

    #[test]
    fn missing_or_empty_transcripts_have_no_prompt() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(last_user_prompt(&dir.path().join("nope")), None);
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "").unwrap();
        assert_eq!(last_user_prompt(&empty), None);
    }
}
