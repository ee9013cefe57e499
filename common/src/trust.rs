//! Codex's trust records for user hooks: a handler runs only when `config.toml`
//! holds `[hooks.state."<key>"] trusted_hash` equal to the hash Codex computes for
//! its current definition. Computed here exactly as Codex does, for setup (which
//! writes the records) and for the runtime (which checks they still hold).

use crate::events::Event;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Codex's default handler timeout, used in the hash when `timeout` is absent.
pub const DEFAULT_TIMEOUT_SECS: u64 = 600;

/// `<hooks.json path>:<snake_event>:<group index>:<handler index>`. The path must be
/// the canonical one: Codex canonicalizes `CODEX_HOME`.
pub fn trust_key(hooks_json: &Path, event: Event, group: usize, handler: usize) -> String {
    format!(
        "{}:{}:{group}:{handler}",
        hooks_json.display(),
        event.snake_name()
    )
}

/// `sha256:<hex>` of the canonical JSON of one handler, as Codex hashes it.
pub fn handler_hash(event: Event, matcher: Option<&str>, handler: &Map<String, Value>) -> String {
    let mut normalized = Map::new();
    normalized.insert(
        "type".into(),
        handler
            .get("type")
            .cloned()
            .unwrap_or_else(|| "command".into()),
    );
    normalized.insert(
        "command".into(),
        handler.get("command").cloned().unwrap_or(Value::Null),
    );
    normalized.insert(
        "timeout".into(),
        handler
            .get("timeout")
            .cloned()
            .unwrap_or_else(|| DEFAULT_TIMEOUT_SECS.into()),
    );
    normalized.insert(
        "async".into(),
        handler.get("async").cloned().unwrap_or(Value::Bool(false)),
    );
    if let Some(message) = handler.get("statusMessage").filter(|m| !m.is_null()) {
        normalized.insert("statusMessage".into(), message.clone());
    }
    let mut identity = Map::new();
    identity.insert("event_name".into(), event.snake_name().into());
    if let Some(matcher) = matcher.filter(|_| !event.drops_matcher()) {
        identity.insert("matcher".into(), matcher.into());
    }
    identity.insert(
        "hooks".into(),
        Value::Array(vec![Value::Object(normalized)]),
    );
    let canonical = canonical_json(&Value::Object(identity));
    let digest = Sha256::digest(canonical.as_bytes());
    format!("sha256:{}", hex(&digest))
}

/// Keys sorted recursively, no whitespace, UTF-8 left unescaped.
fn canonical_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&map[k])))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// The lowercase hex sha256 of `bytes`, as the install receipt records files.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn handler(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    /// Hashes reported by `codex app-server` `hooks/list` (Codex 0.169.0) for the
    /// same definitions.
    #[test]
    fn matches_hashes_reported_by_codex() {
        assert_eq!(
            handler_hash(
                Event::PreToolUse,
                None,
                &handler(json!({"type":"command","command":"'/tmp/x y/hook'","timeout":10}))
            ),
            "sha256:5a003196640f5dbbd6a31047e3f9d58891814968717dfcd0641ce288cb1c78d1"
        );
        // Stop drops its matcher.
        assert_eq!(
            handler_hash(
                Event::Stop,
                Some("x"),
                &handler(json!({"type":"command","command":"echo a","timeout":10}))
            ),
            "sha256:83b08b429bf0f1ca317f1cc40a02f8ee5961a78156b3f8fbf37704e29925e704"
        );
    }

    /// Codex 0.171.0 hashes a handler kept inline in config.toml as it hashes one in
    /// hooks.json; its key names config.toml (both reported by `hooks/list`).
    #[test]
    fn inline_handlers_hash_as_in_hooks_json() {
        assert_eq!(
            handler_hash(
                Event::PreToolUse,
                Some("Bash"),
                &handler(json!({"type":"command","command":"echo user","timeout":10}))
            ),
            "sha256:5fecd4a6749e9e4c7a5acc417937d3c54b931f33c45522886c57ff64d535157f"
        );
        assert_eq!(
            handler_hash(
                Event::Stop,
                None,
                &handler(json!({"type":"command","command":"echo stop"}))
            ),
            "sha256:236335e9e512004a0f5f42af65a07ea9059bd9a23dbb68286ed57fecf2b69ddf"
        );
        assert_eq!(
            trust_key(Path::new("/tmp/cx2/config.toml"), Event::Stop, 0, 0),
            "/tmp/cx2/config.toml:stop:0:0"
        );
    }

    #[test]
    fn every_field_codex_hashes_changes_the_hash() {
        let base = handler(json!({"type":"command","command":"a","timeout":10}));
        let h = handler_hash(Event::PreToolUse, None, &base);
        let mut other = base.clone();
        other.insert("timeout".into(), 11.into());
        assert_ne!(h, handler_hash(Event::PreToolUse, None, &other));
        assert_ne!(h, handler_hash(Event::PreToolUse, Some("Bash"), &base));
        assert_ne!(h, handler_hash(Event::PostToolUse, None, &base));
        let mut with_async = base.clone();
        with_async.insert("async".into(), false.into());
        assert_eq!(h, handler_hash(Event::PreToolUse, None, &with_async));
    }

    /// Codex 0.169.0 reported this same hash for the handler with `commandWindows`
    /// (observed with `hooks/list`): the key is not part of the hash.
    #[test]
    fn command_windows_is_not_hashed() {
        assert_eq!(
            handler_hash(
                Event::PreToolUse,
                None,
                &handler(json!({"type":"command","command":"'/tmp/x y/hook'",
                                "commandWindows":"\"C:\\x y\\hook.exe\"","timeout":10}))
            ),
            "sha256:5a003196640f5dbbd6a31047e3f9d58891814968717dfcd0641ce288cb1c78d1"
        );
    }

    #[test]
    fn key_has_codex_shape() {
        assert_eq!(
            trust_key(Path::new("/h/a b/hooks.json"), Event::PreToolUse, 2, 0),
            "/h/a b/hooks.json:pre_tool_use:2:0"
        );
    }
}
