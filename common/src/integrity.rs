//! Whether an install is still as its receipt says setup left it. Per user: our handler
//! for every event in `hooks.json`, the trust record that lets Codex run each one as it
//! is now, Codex's hooks feature, the runtime program and its config. Managed: our
//! handlers in `requirements.toml`, the runtime under the prefix and the machine config.
//!
//! Only a few small files are read and the runtime is hashed, so the hook can afford it
//! on every session start; what drifted is reported, never repaired (that is setup's job).

use crate::events::Event;
use crate::layout::{Layout, MANAGED_RECEIPT, RUNTIME_BIN};
use crate::receipt::{FileRecord, HooksLayout, ManagedReceipt, Receipt};
use crate::trust;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Which kind of install was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// `codex-guard setup` in one Codex home.
    User,
    /// `codex-guard setup --managed`: machine-wide, from `requirements.toml`.
    Managed,
}

/// The part of an install that drifted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Part {
    /// The install receipt itself (without it nothing else can be compared).
    #[serde(rename = "receipt")]
    Receipt,
    /// Codex's user `hooks.json`: our handlers.
    #[serde(rename = "hooks.json")]
    HooksJson,
    /// Codex's user `config.toml`: the hooks feature and our trust records.
    #[serde(rename = "config.toml")]
    CodexConfig,
    /// Codex's machine `requirements.toml`: our managed handlers.
    #[serde(rename = "requirements.toml")]
    Requirements,
    /// The `codex-guard-hook` program Codex runs.
    #[serde(rename = "runtime")]
    Runtime,
    /// The runtime's own config (per user, or the machine config).
    #[serde(rename = "runtime-config")]
    RuntimeConfig,
}

impl Part {
    /// Drift here can stop Codex from running our handlers.
    fn registration(self) -> bool {
        matches!(
            self,
            Part::Receipt | Part::HooksJson | Part::CodexConfig | Part::Requirements
        )
    }
}

/// One difference from what setup installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub part: Part,
    /// The hook event whose handler is concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<&'static str>,
    /// One word to match on: `missing`, `damaged`, `changed`, `untrusted`, `modified`
    /// (the trust record no longer matches), `disabled`, `off`.
    pub problem: &'static str,
    /// What was found, naming the file.
    pub detail: String,
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Integrity {
    pub scope: Scope,
    /// The version of codex-guard that wrote the receipt (`None`: no readable receipt).
    pub installed_version: Option<String>,
    /// Codex runs every handler of ours as setup registered it.
    pub registration_intact: bool,
    /// Nothing drifted at all.
    pub intact: bool,
    pub drift: Vec<Drift>,
}

impl Integrity {
    fn new(scope: Scope, installed_version: Option<String>, drift: Vec<Drift>) -> Integrity {
        Integrity {
            scope,
            installed_version,
            registration_intact: !drift.iter().any(|d| d.part.registration()),
            intact: drift.is_empty(),
            drift,
        }
    }
}

fn drift(part: Part, event: Option<Event>, problem: &'static str, detail: String) -> Drift {
    Drift {
        part,
        event: event.map(Event::name),
        problem,
        detail,
    }
}

/// A file's text; `Ok(None)` when it does not exist.
fn read_optional(path: &Path) -> std::io::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads and parses the receipt at `path`, or says why it cannot be compared with.
fn read_receipt<T>(path: &Path, parse: impl FnOnce(&str) -> Option<T>) -> Result<T, Drift> {
    let missing = |problem, why: String| drift(Part::Receipt, None, problem, why);
    match read_optional(path) {
        Ok(Some(text)) => parse(&text).ok_or_else(|| {
            missing(
                "damaged",
                format!("{} is not a receipt codex-guard can read", path.display()),
            )
        }),
        Ok(None) => Err(missing(
            "missing",
            format!(
                "{} does not exist: nothing to compare the install with",
                path.display()
            ),
        )),
        Err(e) => Err(missing(
            "damaged",
            format!("cannot read {}: {e}", path.display()),
        )),
    }
}

/// A per-user install in `layout`'s Codex home. `state_dir` is where the runtime's
/// hash may be remembered between checks.
pub fn check_user(layout: &Layout, state_dir: Option<&Path>) -> Integrity {
    let cache = state_dir.map(|d| d.join(HASH_CACHE));
    let receipt = match read_receipt(&layout.receipt(), |t| Receipt::from_json(t).ok()) {
        Ok(receipt) => receipt,
        Err(d) => return Integrity::new(Scope::User, None, vec![d]),
    };
    let mut found = Vec::new();
    let config = read_codex_config(&receipt.codex_config.path, &mut found);
    user_handlers(&receipt, config.as_ref(), &mut found);
    file_drift(
        &receipt.files,
        &layout.runtime_bin(),
        Part::Runtime,
        cache.as_deref(),
        &mut found,
    );
    file_drift(
        &receipt.files,
        &layout.runtime_config(),
        Part::RuntimeConfig,
        None,
        &mut found,
    );
    Integrity::new(Scope::User, Some(receipt.version), found)
}

/// Codex's user `config.toml`, with the hooks feature checked; `None` when it is
/// missing (no trust records) or cannot be read (reported).
fn read_codex_config(path: &Path, found: &mut Vec<Drift>) -> Option<toml::Table> {
    let text = match read_optional(path) {
        Ok(Some(text)) => text,
        Ok(None) => return None,
        Err(e) => {
            found.push(drift(
                Part::CodexConfig,
                None,
                "damaged",
                format!("cannot read {}: {e}", path.display()),
            ));
            return None;
        }
    };
    let table = match text.parse::<toml::Table>() {
        Ok(table) => table,
        Err(e) => {
            found.push(drift(
                Part::CodexConfig,
                None,
                "damaged",
                format!("{} is not valid TOML: {}", path.display(), e.message()),
            ));
            return None;
        }
    };
    let features = table.get("features").and_then(toml::Value::as_table);
    // `hooks` wins over the deprecated `codex_hooks`, as in Codex.
    let flag = features.and_then(|f| {
        f.get("hooks")
            .map(|v| ("hooks", v))
            .or_else(|| f.get("codex_hooks").map(|v| ("codex_hooks", v)))
    });
    if let Some((key, value)) = flag {
        if value.as_bool() != Some(true) {
            let value = value
                .as_bool()
                .map_or_else(|| "(not true or false)".to_string(), |b| b.to_string());
            found.push(drift(
                Part::CodexConfig,
                None,
                "off",
                format!(
                    "`[features] {key} = {value}` in {}: Codex runs no hooks",
                    path.display()
                ),
            ));
        }
    }
    Some(table)
}

/// Our handler for every event the receipt lists, each trusted as it is now.
fn user_handlers(receipt: &Receipt, config: Option<&toml::Table>, found: &mut Vec<Drift>) {
    let path = &receipt.hooks_json.path;
    if receipt.hooks_json.layout == HooksLayout::ConfigToml {
        // Inline handlers: `config` is that very file, already read (a damaged one is
        // reported by `read_codex_config`; a missing one holds none of ours).
        let doc = serde_json::json!({ "hooks": config.map(inline_hooks) });
        our_handlers_in(&doc, receipt, config, found);
        return;
    }
    let doc = match read_hooks_file(path) {
        Ok(doc) => doc,
        Err(problem) => {
            found.push(problem);
            return;
        }
    };
    our_handlers_in(&doc, receipt, config, found);
}

/// The `[hooks]` event lists of a config.toml as hooks.json holds them (`state`, the
/// trust records, is no event).
pub fn inline_hooks(config: &toml::Table) -> Value {
    let mut events = Map::new();
    if let Some(hooks) = config.get("hooks").and_then(toml::Value::as_table) {
        for (name, groups) in hooks {
            if name != "state" && groups.is_array() {
                events.insert(name.clone(), toml_to_json(groups));
            }
        }
    }
    Value::Object(events)
}

fn toml_to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => Value::Object(
            table
                .iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

/// Our handler for every event the receipt lists in `doc` (hooks.json's shape), each
/// trusted as it is now.
fn our_handlers_in(
    doc: &Value,
    receipt: &Receipt,
    config: Option<&toml::Table>,
    found: &mut Vec<Drift>,
) {
    let path = &receipt.hooks_json.path;
    let runtime = Layout::new(&receipt.codex_home)
        .runtime_bin()
        .display()
        .to_string();
    for record in &receipt.hooks_json.handlers {
        let Some(event) = Event::from_name(&record.event) else {
            continue;
        };
        let handlers = handlers_of(doc, event);
        let ours = handlers
            .iter()
            .find(|h| h.command() == Some(record.command.as_str()));
        match ours {
            Some(ours) => found.extend(untrusted(
                config,
                &receipt.codex_config.path,
                path,
                event,
                ours,
            )),
            None => found.push(not_ours(path, event, &handlers, &runtime)),
        }
    }
}

/// The user's hooks.json, when it is one Codex accepts; else what is wrong with it.
fn read_hooks_file(path: &Path) -> Result<Value, Drift> {
    match read_optional(path) {
        Ok(Some(text)) => match serde_json::from_str(&text) {
            Ok(Value::Object(top))
                if top.keys().all(|k| k == "description" || k == "hooks")
                    && top.get("hooks").is_none_or(Value::is_object) =>
            {
                Ok(Value::Object(top))
            }
            _ => Err(drift(
                Part::HooksJson,
                None,
                "damaged",
                format!(
                    "{} is not a hooks file Codex accepts: it runs none of its hooks",
                    path.display()
                ),
            )),
        },
        Ok(None) => Err(drift(
            Part::HooksJson,
            None,
            "missing",
            format!(
                "{} does not exist: no handler of ours is registered",
                path.display()
            ),
        )),
        Err(e) => Err(drift(
            Part::HooksJson,
            None,
            "damaged",
            format!("cannot read {}: {e}", path.display()),
        )),
    }
}

/// Our handler for `event` is gone: edited (another command runs our runtime) or missing.
fn not_ours(path: &Path, event: Event, handlers: &[Placed], runtime: &str) -> Drift {
    let edited = handlers
        .iter()
        .filter_map(Placed::command)
        .find(|c| c.contains(runtime));
    match edited {
        Some(command) => drift(
            Part::HooksJson,
            Some(event),
            "changed",
            format!(
                "the {} handler in {} runs {command:?}, not the command setup wrote",
                event.name(),
                path.display()
            ),
        ),
        None => drift(
            Part::HooksJson,
            Some(event),
            "missing",
            format!(
                "no codex-guard handler for {} in {}",
                event.name(),
                path.display()
            ),
        ),
    }
}

/// Our handler is in place: a drift unless Codex's trust record for it is current.
fn untrusted(
    config: Option<&toml::Table>,
    config_path: &Path,
    hooks_path: &Path,
    event: Event,
    ours: &Placed,
) -> Option<Drift> {
    let key = trust::trust_key(hooks_path, event, ours.group, ours.index);
    let hash = trust::handler_hash(event, ours.matcher.as_deref(), &ours.handler);
    let state = trust_state(config, &key, &hash);
    (state != "trusted").then(|| {
        drift(
            Part::CodexConfig,
            Some(event),
            state,
            format!(
                "the trust record [hooks.state.{key:?}] in {} is {state}: Codex skips the {} handler",
                config_path.display(),
                event.name()
            ),
        )
    })
}

/// One handler in a hooks.json, where Codex's trust key puts it.
struct Placed {
    group: usize,
    index: usize,
    matcher: Option<String>,
    handler: Map<String, Value>,
}

impl Placed {
    fn command(&self) -> Option<&str> {
        self.handler.get("command").and_then(Value::as_str)
    }
}

/// Every handler of `event` in a hooks.json.
fn handlers_of(doc: &Value, event: Event) -> Vec<Placed> {
    let mut out = Vec::new();
    let groups = doc
        .get("hooks")
        .and_then(|h| h.get(event.name()))
        .and_then(Value::as_array);
    for (group, entry) in groups.into_iter().flatten().enumerate() {
        let matcher = entry
            .get("matcher")
            .and_then(Value::as_str)
            .map(str::to_string);
        let handlers = entry.get("hooks").and_then(Value::as_array);
        for (index, handler) in handlers.into_iter().flatten().enumerate() {
            if let Some(handler) = handler.as_object() {
                out.push(Placed {
                    group,
                    index,
                    matcher: matcher.clone(),
                    handler: handler.clone(),
                });
            }
        }
    }
    out
}

/// How Codex treats a handler, in Codex's words: `trusted`, `untrusted` (no record),
/// `modified` (the record is for another definition) or `disabled`.
pub fn trust_state(config: Option<&toml::Table>, key: &str, hash: &str) -> &'static str {
    let entry = config
        .and_then(|c| c.get("hooks"))
        .and_then(|h| h.get("state"))
        .and_then(|s| s.get(key));
    let Some(entry) = entry else {
        return "untrusted";
    };
    if entry.get("enabled").and_then(toml::Value::as_bool) == Some(false) {
        return "disabled";
    }
    match entry.get("trusted_hash").and_then(toml::Value::as_str) {
        None => "untrusted",
        Some(recorded) if recorded == hash => "trusted",
        Some(_) => "modified",
    }
}

/// A file the receipt recorded, compared by its sha256.
/// `cache`: where the hash may be remembered (see [`sha256_cached`]).
fn file_drift(
    files: &[FileRecord],
    path: &Path,
    part: Part,
    cache: Option<&Path>,
    found: &mut Vec<Drift>,
) {
    let Some(recorded) = files.iter().find(|f| f.path == path) else {
        return;
    };
    match sha256_cached(path, cache) {
        Ok(actual) if actual == recorded.sha256 => {}
        Ok(actual) => found.push(drift(
            part,
            None,
            "changed",
            format!(
                "{} has sha256 {actual}, not the {} setup installed",
                path.display(),
                recorded.sha256
            ),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => found.push(drift(
            part,
            None,
            "missing",
            format!("{} does not exist", path.display()),
        )),
        Err(e) => found.push(drift(
            part,
            None,
            "damaged",
            format!("cannot read {}: {e}", path.display()),
        )),
    }
}

/// The hex sha256 of a file, read in pieces (the runtime is several MiB).
fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(trust::hex(&hasher.finalize()))
}

/// The file name of the remembered runtime hash, in the runtime's state directory.
pub const HASH_CACHE: &str = "runtime-sha256.json";

/// A hash and the identity of the file it was computed from.
#[derive(Debug, Serialize, Deserialize)]
struct HashCache {
    path: PathBuf,
    stamp: String,
    sha256: String,
}

/// How long a file must have been left alone before its hash is remembered. File times
/// come from a coarse clock: a change within the same tick can keep the same stamp, so
/// only a stamp older than any tick is trusted to change with the next write.
const SETTLED: Duration = Duration::from_secs(1);

/// Device, inode, size, modification and change times, and the change time: any write,
/// rename over or chmod of the file sets the change time, which only the clock's owner
/// can choose.
#[cfg(unix)]
fn stamp(path: &Path) -> std::io::Result<Option<(String, SystemTime)>> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path)?;
    let changed = u64::try_from(m.ctime())
        .ok()
        .and_then(|secs| {
            let nanos = u32::try_from(m.ctime_nsec()).unwrap_or(0);
            UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
        })
        .unwrap_or(UNIX_EPOCH);
    let text = format!(
        "{}:{}:{}:{}.{}:{}.{}",
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec()
    );
    Ok(Some((text, changed)))
}

#[cfg(not(unix))]
fn stamp(path: &Path) -> std::io::Result<Option<(String, SystemTime)>> {
    std::fs::metadata(path).map(|_| None)
}

/// [`sha256_file`], skipped when `cache` holds the hash of this very file as it is now
/// (same stamp), so a session start hashes the runtime only after it changed. The cache
/// lives with the user's state: whoever can forge it can also rewrite a per-user receipt,
/// and a managed runtime only root can change (which changes its stamp).
fn sha256_cached(path: &Path, cache: Option<&Path>) -> std::io::Result<String> {
    let Some(cache) = cache else {
        return sha256_file(path);
    };
    // Taken before hashing: a change while the file is read makes the next stamp differ.
    let Some((stamp, changed)) = stamp(path)? else {
        return sha256_file(path);
    };
    let cached = std::fs::read_to_string(cache)
        .ok()
        .and_then(|t| serde_json::from_str::<HashCache>(&t).ok());
    if let Some(cached) = cached.filter(|c| c.path == path && c.stamp == stamp) {
        return Ok(cached.sha256);
    }
    let sha256 = sha256_file(path)?;
    let settled = SystemTime::now()
        .duration_since(changed)
        .is_ok_and(|age| age >= SETTLED);
    let entry = HashCache {
        path: path.to_path_buf(),
        stamp,
        sha256,
    };
    if settled {
        // Best effort: without the cache the next session start hashes again.
        let _ = write_cache(cache, &entry);
    }
    Ok(entry.sha256)
}

/// Writes the cache next to itself and renames it in place, so a reader never sees half.
fn write_cache(cache: &Path, entry: &HashCache) -> std::io::Result<()> {
    if let Some(dir) = cache.parent().filter(|d| !d.is_dir()) {
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
    }
    let temp = cache.with_extension(format!("{}.tmp", std::process::id()));
    std::fs::write(&temp, serde_json::to_vec(entry)?)?;
    std::fs::rename(&temp, cache).inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })
}

/// A managed install whose machine config is `machine_config` (`/etc/codex-guard/config.toml`);
/// `state_dir` as for [`check_user`].
pub fn check_managed(machine_config: &Path, state_dir: Option<&Path>) -> Integrity {
    let cache = state_dir.map(|d| d.join(HASH_CACHE));
    let dir = machine_config.parent().unwrap_or(Path::new("/"));
    let receipt = match read_receipt(&dir.join(MANAGED_RECEIPT), |t| {
        serde_json::from_str::<ManagedReceipt>(t).ok()
    }) {
        Ok(receipt) => receipt,
        Err(d) => return Integrity::new(Scope::Managed, None, vec![d]),
    };
    let mut found = Vec::new();
    managed_handlers(&receipt, &mut found);
    file_drift(
        &receipt.files,
        &receipt.prefix.join(RUNTIME_BIN),
        Part::Runtime,
        cache.as_deref(),
        &mut found,
    );
    file_drift(
        &receipt.files,
        machine_config,
        Part::RuntimeConfig,
        None,
        &mut found,
    );
    Integrity::new(Scope::Managed, Some(receipt.version), found)
}

/// `requirements.toml` keeps hooks on, our `managed_dir`, our handler on every event
/// and, when setup set it, `allow_managed_hooks_only`.
fn managed_handlers(receipt: &ManagedReceipt, found: &mut Vec<Drift>) {
    let path = &receipt.requirements.path;
    let doc = match read_optional(path).map(|t| t.map(|t| t.parse::<toml::Table>())) {
        Ok(Some(Ok(doc))) => doc,
        Ok(None) => {
            found.push(drift(
                Part::Requirements,
                None,
                "missing",
                format!(
                    "{} does not exist: no managed handler of ours is registered",
                    path.display()
                ),
            ));
            return;
        }
        Ok(Some(Err(e))) => {
            found.push(drift(
                Part::Requirements,
                None,
                "damaged",
                format!("{} is not valid TOML: {}", path.display(), e.message()),
            ));
            return;
        }
        Err(e) => {
            found.push(drift(
                Part::Requirements,
                None,
                "damaged",
                format!("cannot read {}: {e}", path.display()),
            ));
            return;
        }
    };
    let hooks_flag = doc.get("features").and_then(|f| f.get("hooks"));
    if hooks_flag.and_then(toml::Value::as_bool) == Some(false) {
        found.push(drift(
            Part::Requirements,
            None,
            "off",
            format!(
                "`[features] hooks = false` in {}: Codex runs no hooks",
                path.display()
            ),
        ));
    }
    let hooks = doc.get("hooks");
    let managed_dir = hooks
        .and_then(|h| h.get("managed_dir"))
        .and_then(toml::Value::as_str);
    if managed_dir != receipt.prefix.to_str() {
        found.push(drift(
            Part::Requirements,
            None,
            "changed",
            format!(
                "hooks.managed_dir in {} is {managed_dir:?}, not {:?}",
                path.display(),
                receipt.prefix.display()
            ),
        ));
    }
    for event in Event::ALL {
        let registered = hooks
            .and_then(|h| h.get(event.name()))
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|group| group.get("hooks").and_then(toml::Value::as_array))
            .flatten()
            .any(|h| h.get("command").and_then(toml::Value::as_str) == Some(&receipt.command));
        if !registered {
            found.push(drift(
                Part::Requirements,
                Some(event),
                "missing",
                format!(
                    "no codex-guard handler for {} in {}",
                    event.name(),
                    path.display()
                ),
            ));
        }
    }
    let only = doc
        .get("allow_managed_hooks_only")
        .and_then(toml::Value::as_bool);
    if receipt.requirements.managed_only && only != Some(true) {
        found.push(drift(
            Part::Requirements,
            None,
            "changed",
            format!(
                "allow_managed_hooks_only is no longer true in {}: users' own hooks run again",
                path.display()
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn trust_states_use_codex_words() {
        let config = table(concat!(
            "[hooks.state.\"/h/hooks.json:stop:0:0\"]\ntrusted_hash = \"sha256:aa\"\n",
            "[hooks.state.\"/h/hooks.json:stop:1:0\"]\ntrusted_hash = \"sha256:aa\"\nenabled = false\n",
        ));
        let state = |key: &str, hash: &str| trust_state(Some(&config), key, hash);
        assert_eq!(state("/h/hooks.json:stop:0:0", "sha256:aa"), "trusted");
        assert_eq!(state("/h/hooks.json:stop:0:0", "sha256:bb"), "modified");
        assert_eq!(state("/h/hooks.json:stop:1:0", "sha256:aa"), "disabled");
        assert_eq!(state("/h/hooks.json:stop:2:0", "sha256:aa"), "untrusted");
        assert_eq!(
            trust_state(None, "/h/hooks.json:stop:0:0", "sha256:aa"),
            "untrusted"
        );
    }

    #[test]
    fn without_a_receipt_nothing_can_be_vouched_for() {
        let dir = tempfile::tempdir().unwrap();
        let check = check_user(&Layout::new(dir.path()), None);
        assert_eq!(check.scope, Scope::User);
        assert_eq!(check.installed_version, None);
        assert!(!check.intact && !check.registration_intact);
        assert_eq!(
            (check.drift[0].part, check.drift[0].problem),
            (Part::Receipt, "missing")
        );
        let managed = check_managed(&dir.path().join("config.toml"), None);
        assert_eq!(managed.scope, Scope::Managed);
        assert_eq!(managed.drift[0].part, Part::Receipt);
    }

    #[test]
    fn a_remembered_hash_is_used_only_for_the_same_file_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("runtime");
        let cache = dir.path().join("state").join(HASH_CACHE);
        std::fs::write(&file, b"one").unwrap();
        // Just written: hashed, not remembered yet.
        assert_eq!(
            sha256_cached(&file, Some(&cache)).unwrap(),
            trust::sha256_hex(b"one")
        );
        assert!(!cache.exists());
        std::thread::sleep(SETTLED + Duration::from_millis(100));
        let first = sha256_cached(&file, Some(&cache)).unwrap();
        assert_eq!(first, trust::sha256_hex(b"one"));
        assert!(cache.is_file());
        // A forged entry for this very stamp is believed: the cache is only as strong as
        // the directory it lives in (the user's own, like a per-user receipt).
        let mut entry: HashCache =
            serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
        entry.sha256 = "remembered".into();
        write_cache(&cache, &entry).unwrap();
        assert_eq!(sha256_cached(&file, Some(&cache)).unwrap(), "remembered");
        // Any change to the file is a new stamp, so it is hashed again.
        std::fs::write(&file, b"two").unwrap();
        assert_eq!(
            sha256_cached(&file, Some(&cache)).unwrap(),
            trust::sha256_hex(b"two")
        );
    }
}
