//! The user's rules file, checked, kept between hook events: every event is a new
//! process, and reading a file of many rules (TOML, then each rule checked and its
//! regexes compiled) would cost each event milliseconds. The cache holds the
//! checked rules, each behind a [`Screen`] (its events, `requires` and the
//! prefilters of its regexes), so an event decodes only the rules its text may
//! match and compiles a regex only when its prefilter passes.
//!
//! The cache can never loosen a rule. It holds only the user's own file (owned by
//! the user running the hook), lives in the user's own state directory, is read
//! only when the user owns it and no one else may write it, and only for the very
//! file it was made from: device, inode, size, modification and change times,
//! owner, this hook's version and the cache's format, with an intact CRC-32.
//! Anything else (missing, damaged, stale, foreign) is ignored, the file read
//! again and the cache rewritten. The admin's file is
//! never cached: the hook could not write a cache only root may change, and one the
//! user may change would let the user loosen the admin's rules.

use crate::input::HookInput;
use crate::packs::Levels;
use crate::rules::{
    cannot_read, Assembly, Checked, CheckedRule, Layer, Rules, Scope, Screen, Texts,
};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The cache file in the user's state directory.
pub const FILE: &str = "rules-cache.bin";

/// Where the hook keeps the user's rules file checked, and the event it loads
/// them to decide.
#[derive(Debug, Clone, Copy)]
pub struct Cache<'a> {
    pub path: &'a Path,
    /// Given, the loaded rules leave out those that cannot match this event: they
    /// decide it as all the rules would, and must not decide another.
    pub input: Option<&'a HookInput>,
}

/// Bumped whenever what the cache holds, or how it is read, changes.
const FORMAT: u32 = 1;

/// Far more than the checked form of any rules file a person writes.
const MAX_BYTES: u64 = 64 * 1024 * 1024;

/// File times come from a coarse clock: two writes within one tick can leave the
/// same times. A file changed this recently is read but not cached, so the next
/// change always shows in its times.
const SETTLED: Duration = Duration::from_secs(1);

/// The cache: a CRC-32 of the rest, this header, then `rules` times a rule's
/// [`Screen`] and the rule itself (a [`CheckedRule`], in bytes of its own), so that
/// an event decodes in full only the rules its text may match.
#[derive(Debug, Serialize, Deserialize)]
struct Header<S> {
    format: u32,
    hook: S,
    file: Identity,
    user_allows_off: bool,
    #[serde(with = "crate::rules::levels_serde")]
    packs: Levels,
    problems: Vec<(u32, S)>,
    rules: u32,
}

/// What tells one version of a file from another without reading it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Identity {
    path: PathBuf,
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    uid: u32,
}

impl Identity {
    fn of(path: &Path, m: &std::fs::Metadata) -> Identity {
        use std::os::unix::fs::MetadataExt;
        Identity {
            path: path.to_path_buf(),
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
            uid: m.uid(),
        }
    }

    /// Whether the file was last changed long enough ago for its times to tell
    /// the next change.
    fn settled(&self, settled: Duration) -> bool {
        let changed = u64::try_from(self.ctime.0).ok().and_then(|secs| {
            let nanos = u32::try_from(self.ctime.1).unwrap_or(0);
            SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
        });
        changed.is_some_and(|c| {
            SystemTime::now()
                .duration_since(c)
                .is_ok_and(|age| age >= settled)
        })
    }
}

/// The rules of `event` in the user's rules file `file`, from `cache` when it holds
/// this very file, else read from the file (and cached when it may be): `None` when
/// the file does not exist, `Some(Err)` when it does not parse, an error when it
/// cannot be read. The problems of its rules go to `problems`.
///
/// With `input`, the event to be decided, the rules of the cache that cannot match
/// it (their `requires` or a prefilter rules its text out) are left out unread:
/// those `Rules` decide that event alike, and no other.
pub(crate) fn load(
    file: &Path,
    cache: &Path,
    event: &str,
    input: Option<&HookInput>,
    skip_allows: bool,
    problems: &mut Vec<String>,
) -> Result<Option<Result<Rules, String>>, String> {
    load_settled(file, cache, event, input, skip_allows, problems, SETTLED)
}

/// [`load`], caching a file left alone for `settled`.
fn load_settled(
    file: &Path,
    cache: &Path,
    event: &str,
    input: Option<&HookInput>,
    skip_allows: bool,
    problems: &mut Vec<String>,
    settled: Duration,
) -> Result<Option<Result<Rules, String>>, String> {
    let mut opened = match std::fs::File::open(file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(cannot_read(file, &e)),
    };
    // The times are taken before the text is read: a change made while it is read
    // gives the file new times, so this cache entry never matches it.
    let identity = opened
        .metadata()
        .ok()
        .filter(|m| m.is_file() && owned_by_me(m))
        .map(|m| Identity::of(file, &m));
    if let Some(identity) = &identity {
        if let Some(rules) = read(cache)
            .and_then(|bytes| decode(&bytes, identity, event, input, skip_allows, problems))
        {
            return Ok(Some(Ok(rules)));
        }
    }
    let mut rules_of = |checked: Result<Checked, String>| {
        checked.map(|c| c.rules_for(Layer::User, Some(event), skip_allows, problems))
    };
    let mut text = String::new();
    opened
        .read_to_string(&mut text)
        .map_err(|e| cannot_read(file, &e))?;
    // Every event's rules are checked, and each regex's prefilter found, only when
    // the cache can be written; otherwise this is the read of one event's rules.
    let temp = identity
        .as_ref()
        .filter(|id| id.settled(settled))
        .and_then(|_| Temp::create(cache).ok());
    let Some((identity, temp)) = identity.zip(temp) else {
        return Ok(Some(rules_of(Checked::read(
            &text,
            Layer::User,
            Scope::Event(event),
        ))));
    };
    let checked = Checked::read(&text, Layer::User, Scope::Cache);
    if let Ok(rules) = &checked {
        // Best effort: without the cache the next event reads the file again.
        let _ = temp.commit(identity, rules);
    }
    Ok(Some(rules_of(checked)))
}

/// The bytes of `cache` when it is the user's own, a plain file no one else may write.
fn read(cache: &Path) -> Option<Vec<u8>> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut options,
        rustix::fs::OFlags::NOFOLLOW.bits().cast_signed(),
    );
    let file = options.open(cache).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || !owned_by_me(&meta) || writable_by_others(&meta) || meta.len() > MAX_BYTES
    {
        return None;
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).ok()?);
    file.take(MAX_BYTES).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// The rules of `event` in `bytes` when they are whole and were made by this very
/// hook from the file `identity` names; nothing reaches `problems` otherwise.
fn decode(
    bytes: &[u8],
    identity: &Identity,
    event: &str,
    input: Option<&HookInput>,
    skip_allows: bool,
    problems: &mut Vec<String>,
) -> Option<Rules> {
    let (sum, payload) = bytes.split_first_chunk::<4>()?;
    if u32::from_le_bytes(*sum) != crc32fast::hash(payload) {
        return None;
    }
    let (header, mut rest): (Header<&str>, _) = postcard::take_from_bytes(payload).ok()?;
    if header.format != FORMAT || header.hook != hook_version() || header.file != *identity {
        return None;
    }
    let texts = input.map(Texts::of);
    let mut kept = Vec::new();
    for index in 0..header.rules {
        let ((screen, body), tail): ((Screen<&str>, &[u8]), _) =
            postcard::take_from_bytes(rest).ok()?;
        rest = tail;
        if texts.as_ref().is_none_or(|t| screen.keeps(event, t)) {
            let rule: CheckedRule<&str> = postcard::from_bytes(body).ok()?;
            kept.push((index, rule));
        }
    }
    if !rest.is_empty() {
        return None;
    }
    let mut out = Assembly::new(Layer::User, Some(event), skip_allows, problems);
    out.settings(header.user_allows_off, header.packs);
    let mut reported = header.problems.into_iter().peekable();
    for (index, rule) in kept {
        while let Some((_, problem)) = reported.next_if(|(before, _)| *before <= index) {
            out.problem(problem.to_string());
        }
        out.rule(rule);
    }
    reported.for_each(|(_, problem)| out.problem(problem.to_string()));
    Some(out.finish())
}

/// The cache being written: a private file beside it, renamed over it by
/// [`Temp::commit`] (so a reader never sees half of it), removed if dropped before.
struct Temp {
    path: PathBuf,
    file: std::fs::File,
    cache: PathBuf,
    committed: bool,
}

impl Temp {
    fn create(cache: &Path) -> std::io::Result<Temp> {
        let dir = cache.parent().unwrap_or(Path::new("."));
        crate::private_dir(dir)?;
        let path = dir.join(format!(".{FILE}.{}.tmp", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        std::os::unix::fs::OpenOptionsExt::custom_flags(
            &mut options,
            rustix::fs::OFlags::NOFOLLOW.bits().cast_signed(),
        );
        let file = options.open(&path)?;
        let temp = Temp {
            path,
            file,
            cache: cache.to_path_buf(),
            committed: false,
        };
        // A file left by an earlier process of the same id keeps its mode: set it.
        temp.file
            .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        Ok(temp)
    }

    fn commit(mut self, identity: Identity, rules: &Checked) -> std::io::Result<()> {
        let bytes = encode(identity, rules).map_err(std::io::Error::other)?;
        self.file.write_all(&bytes)?;
        // No fsync: a cache torn by a crash fails its checksum and is made again.
        std::fs::rename(&self.path, &self.cache)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn encode(identity: Identity, checked: &Checked) -> Result<Vec<u8>, postcard::Error> {
    encode_as(FORMAT, hook_version(), identity, checked)
}

fn encode_as(
    format: u32,
    hook: &str,
    identity: Identity,
    checked: &Checked,
) -> Result<Vec<u8>, postcard::Error> {
    let header = Header {
        format,
        hook,
        file: identity,
        user_allows_off: checked.user_allows_off,
        packs: checked.packs,
        problems: checked
            .problems
            .iter()
            .map(|(before, p)| (*before, p.as_str()))
            .collect(),
        rules: u32::try_from(checked.rules.len())
            .map_err(|_| postcard::Error::SerializeBufferFull)?,
    };
    let mut bytes = postcard::to_extend(&header, vec![0; 4])?;
    for rule in &checked.rules {
        let body = postcard::to_allocvec(rule)?;
        bytes = postcard::to_extend(&(rule.screen(), body.as_slice()), bytes)?;
    }
    seal(&mut bytes);
    Ok(bytes)
}

/// Sets the CRC-32 of what follows it.
fn seal(bytes: &mut [u8]) {
    let sum = crc32fast::hash(&bytes[4..]);
    bytes[..4].copy_from_slice(&sum.to_le_bytes());
}

fn hook_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

fn owned_by_me(m: &std::fs::Metadata) -> bool {
    std::os::unix::fs::MetadataExt::uid(m) == rustix::process::geteuid().as_raw()
}

fn writable_by_others(m: &std::fs::Metadata) -> bool {
    std::os::unix::fs::MetadataExt::mode(m) & 0o022 != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::HookInput;
    use crate::protect::PathContext;
    use crate::rules::{load_policy, Match, EVENTS};
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    const RULES: &str = r#"
        surprise = 1
        [packs]
        filesystem = "off"
        download = "warn"
        [[rule]]
        id = "deny-rm"
        action = "deny"
        command = '(^|\s)rm\s+-rf'
        [[rule]]
        id = "warn-push"
        action = "warn"
        requires = "push"
        command = 'git\s+push\s+--force'
        [[rule]]
        id = "allow-make"
        action = "allow"
        events = ["PermissionRequest"]
        command = '^make\b'
        [[rule]]
        id = "broken-on-post"
        action = "deny"
        events = ["PostToolUse"]
        command = "("
        [[rule]]
        id = "broken-but-lazy"
        action = "deny"
        requires = "zap"
        command = "("
        [[rule]]
        id = "typo"
        action = "deny"
        comand = 'x'
        [[rule]]
        id = "empty-requires"
        action = "deny"
        requires = [""]
        command = 'x'
        [[rule]]
        id = "key-in-prompt"
        action = "deny"
        prompt = '(?i)api[_-]?key'
        [[rule]]
        id = "patch-etc"
        action = "deny"
        path = '^/etc/'
        [[rule]]
        id = "drop-by-mcp"
        action = "deny"
        tool_regex = '^mcp__db__'
        arguments = '"op":"drop"'
        "#;

    fn input(json: &serde_json::Value) -> HookInput {
        HookInput::parse(json.to_string().as_bytes()).unwrap()
    }

    fn tool(event: &str, tool: &str, tool_input: &serde_json::Value) -> HookInput {
        input(&json!({"hook_event_name": event, "cwd": "/home/u/proj",
                     "tool_name": tool, "tool_input": tool_input}))
    }

    /// Events that exercise every rule above, on every event they may apply to.
    fn inputs() -> Vec<HookInput> {
        let mut out = Vec::new();
        for event in ["PreToolUse", "PermissionRequest", "PostToolUse"] {
            for command in [
                "rm -rf /tmp/x",
                "sudo RM -RF /",
                "git push --force origin main",
                "zap it",
                "make all",
                "ls -la",
                "rm -rf / && git push --force",
            ] {
                out.push(tool(event, "Bash", &json!({ "command": command })));
            }
            let patch = "*** Begin Patch\n*** Add File: /etc/hosts\n+x\n*** End Patch\n";
            out.push(tool(event, "apply_patch", &json!({ "command": patch })));
            out.push(tool(event, "mcp__db__query", &json!({"op": "drop"})));
            out.push(tool(event, "mcp__db__query", &json!({"op": "select"})));
        }
        for prompt in ["my API_KEY is 123", "hello"] {
            out.push(input(
                &json!({"hook_event_name": "UserPromptSubmit", "prompt": prompt}),
            ));
        }
        out.push(input(
            &json!({"hook_event_name": "SessionStart", "source": "startup"}),
        ));
        out
    }

    fn paths() -> PathContext {
        let env = |k: &str| match k {
            "HOME" => Some("/nonexistent/home/dev".to_string()),
            "USER" => Some("dev".to_string()),
            _ => None,
        };
        PathContext::from_env(&env, Path::new("/nonexistent/root"))
    }

    /// All an event sees of a rules file: the rules it loads, the problems
    /// reported, the decision on each input, the problems found while deciding, and
    /// the packs' levels.
    type Outcome = (
        Vec<String>,
        Vec<String>,
        Vec<Option<Match>>,
        Vec<String>,
        Vec<String>,
    );

    fn outcome(rules: &Rules, problems: Vec<String>, event: &str) -> Outcome {
        let ids = rules.ids().map(str::to_string).collect();
        let places = paths();
        let decisions = inputs()
            .iter()
            .filter(|i| i.event == event)
            .map(|i| rules.evaluate(i, &places))
            .collect();
        let levels = rules
            .pack_levels()
            .iter()
            .map(|(p, l)| format!("{}={}", p.name(), l.as_str()))
            .collect();
        (ids, problems, decisions, rules.take_problems(), levels)
    }

    /// What reading the file itself gives `event`.
    fn fresh(text: &str, event: &str) -> Outcome {
        let mut problems = Vec::new();
        let rules = Checked::read(text, Layer::User, Scope::Event(event))
            .unwrap()
            .rules_for(Layer::User, Some(event), false, &mut problems);
        outcome(&rules, problems, event)
    }

    fn load_for(
        file: &Path,
        cache: &Path,
        event: &str,
        input: Option<&HookInput>,
    ) -> (Rules, Vec<String>) {
        let mut problems = Vec::new();
        let rules = load_settled(
            file,
            cache,
            event,
            input,
            false,
            &mut problems,
            Duration::ZERO,
        )
        .unwrap()
        .unwrap()
        .unwrap();
        (rules, problems)
    }

    fn cached(file: &Path, cache: &Path, event: &str) -> Outcome {
        let (rules, problems) = load_for(file, cache, event, None);
        outcome(&rules, problems, event)
    }

    /// For each input: the problems of loading its event's rules, the decision,
    /// and the problems found deciding, with the rules made anew for each input.
    type Decisions = Vec<(Vec<String>, Option<Match>, Vec<String>)>;

    fn decide(load: &dyn Fn(&HookInput) -> (Rules, Vec<String>)) -> Decisions {
        inputs()
            .iter()
            .map(|input| {
                let (rules, problems) = load(input);
                let decided = rules.evaluate(input, &paths());
                (problems, decided, rules.take_problems())
            })
            .collect()
    }

    struct Setup {
        _dir: tempfile::TempDir,
        file: PathBuf,
        cache: PathBuf,
    }

    fn setup(text: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rules.toml");
        std::fs::write(&file, text).unwrap();
        let cache = dir.path().join("state").join(FILE);
        Setup {
            _dir: dir,
            file,
            cache,
        }
    }

    #[test]
    fn a_cached_read_decides_and_reports_as_a_read_of_the_file() {
        let s = setup(RULES);
        let mut decided = 0;
        for event in EVENTS {
            let expected = fresh(RULES, event);
            decided += expected.2.iter().flatten().count();
            assert_eq!(
                cached(&s.file, &s.cache, event),
                expected,
                "{event}, first read"
            );
            assert!(s.cache.is_file());
            assert_eq!(
                cached(&s.file, &s.cache, event),
                expected,
                "{event}, from the cache"
            );
        }
        assert!(decided >= 10, "the inputs exercise the rules: {decided}");
        let meta = std::fs::symlink_metadata(&s.cache).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        // Left out unread when they cannot match the event at hand, the rules still
        // decide each event, and report each problem, as all of them do.
        let all = decide(&|input| {
            let mut problems = Vec::new();
            let rules = Checked::read(RULES, Layer::User, Scope::Event(&input.event))
                .unwrap()
                .rules_for(Layer::User, Some(&input.event), false, &mut problems);
            (rules, problems)
        });
        let screened = decide(&|input| load_for(&s.file, &s.cache, &input.event, Some(input)));
        assert_eq!(screened, all);
        let (rules, _) = load_for(&s.file, &s.cache, "PreToolUse", Some(&inputs()[5]));
        assert!(
            rules.len() < fresh(RULES, "PreToolUse").0.len(),
            "ls leaves rules out"
        );
        let pre = fresh(RULES, "PreToolUse");
        assert!(pre.1.iter().any(|p| p.contains("surprise")), "{:?}", pre.1);
        assert!(
            pre.1.iter().any(|p| p.contains("empty-requires")),
            "{:?}",
            pre.1
        );
        assert!(
            pre.3.iter().any(|p| p.contains("broken-but-lazy")),
            "{:?}",
            pre.3
        );
        assert!(pre.4.contains(&"filesystem=off".to_string()), "{:?}", pre.4);
        let post = fresh(RULES, "PostToolUse");
        assert!(
            post.1.iter().any(|p| p.contains("broken-on-post")),
            "{:?}",
            post.1
        );
    }

    #[test]
    fn the_cache_is_read_instead_of_the_file_when_it_was_made_from_it() {
        let s = setup(RULES);
        cached(&s.file, &s.cache, "PreToolUse");
        // The user's own cache, rewritten by the user: no more than an edit of their
        // own rules file, and it shows that an unchanged file is not read again.
        let mut bytes = replace(&std::fs::read(&s.cache).unwrap(), b"deny-rm", b"DENY-RM");
        seal(&mut bytes);
        std::fs::write(&s.cache, bytes).unwrap();
        let (ids, ..) = cached(&s.file, &s.cache, "PreToolUse");
        assert!(ids.contains(&"DENY-RM".to_string()), "{ids:?}");
    }

    /// Each way a cache can be wrong; after each, the event decides as the file says.
    #[test]
    fn a_broken_forged_or_stale_cache_never_changes_a_decision() {
        let s = setup(RULES);
        let expected = fresh(RULES, "PreToolUse");
        cached(&s.file, &s.cache, "PreToolUse");
        let good = std::fs::read(&s.cache).unwrap();
        let meta = std::fs::metadata(&s.file).unwrap();
        let identity = Identity::of(&s.file, &meta);
        // A cache that lets everything through, were it believed.
        let nothing = Checked::read("", Layer::User, Scope::Cache).unwrap();
        let loose_bytes = encode(identity.clone(), &nothing).unwrap();
        let with = |change: &dyn Fn(&mut Identity, &mut u32, &mut String)| {
            let (mut id, mut format, mut hook) =
                (identity.clone(), FORMAT, hook_version().to_string());
            change(&mut id, &mut format, &mut hook);
            encode_as(format, &hook, id, &nothing).unwrap()
        };
        let mut flipped = good.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x20;
        let mut unknown_pack = replace(&good, b"filesystem", b"filesysten");
        seal(&mut unknown_pack);
        let mut extra = [good.as_slice(), b"\0"].concat();
        seal(&mut extra);
        let damaged: Vec<(&str, Vec<u8>)> = vec![
            ("empty", Vec::new()),
            ("truncated", good[..good.len() / 2].to_vec()),
            ("garbage", b"\x00\xffnot a cache".to_vec()),
            ("one bit flipped", flipped),
            ("other format", with(&|_, f, _| *f += 1)),
            ("other hook", with(&|_, _, h| *h = "0.0.0-older".into())),
            ("other inode", with(&|i, _, _| i.ino += 1)),
            ("other size", with(&|i, _, _| i.size += 1)),
            ("other mtime", with(&|i, _, _| i.mtime.1 += 1)),
            ("other ctime", with(&|i, _, _| i.ctime.0 -= 1)),
            ("other owner", with(&|i, _, _| i.uid += 1)),
            ("other path", with(&|i, _, _| i.path.push("x"))),
            ("unknown pack", unknown_pack),
            ("one byte more", extra),
        ];
        for (what, bytes) in &damaged {
            std::fs::write(&s.cache, bytes).unwrap();
            assert_eq!(cached(&s.file, &s.cache, "PreToolUse"), expected, "{what}");
            // Made again from the file.
            assert_eq!(std::fs::read(&s.cache).unwrap(), good, "{what}: rewritten");
        }
        // Believable contents where others could have put them.
        for mode in [0o620, 0o602, 0o666] {
            std::fs::write(&s.cache, &loose_bytes).unwrap();
            std::fs::set_permissions(&s.cache, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(
                cached(&s.file, &s.cache, "PreToolUse"),
                expected,
                "mode {mode:o}"
            );
            let mode = std::fs::metadata(&s.cache).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "rewritten private");
        }
        let elsewhere = s.cache.with_file_name("elsewhere.json");
        std::fs::write(&elsewhere, &loose_bytes).unwrap();
        std::fs::remove_file(&s.cache).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &s.cache).unwrap();
        assert_eq!(cached(&s.file, &s.cache, "PreToolUse"), expected, "symlink");
        assert_eq!(
            std::fs::read(&elsewhere).unwrap(),
            loose_bytes,
            "not written through"
        );
        std::fs::remove_file(&s.cache).unwrap();
        std::fs::create_dir(&s.cache).unwrap();
        assert_eq!(
            cached(&s.file, &s.cache, "PreToolUse"),
            expected,
            "a directory"
        );
        std::fs::remove_dir(&s.cache).unwrap();
        let left: Vec<_> = std::fs::read_dir(s.cache.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|name| name.to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "temporary files left: {left:?}");
        if rustix::process::geteuid().is_root() {
            std::fs::write(&s.cache, &loose_bytes).unwrap();
            std::fs::set_permissions(&s.cache, std::fs::Permissions::from_mode(0o600)).unwrap();
            std::os::unix::fs::chown(&s.cache, Some(65534), Some(65534)).unwrap();
            assert_eq!(
                cached(&s.file, &s.cache, "PreToolUse"),
                expected,
                "another owner"
            );
        } else {
            // Without root no file of another owner can be made: check the test itself.
            assert!(!owned_by_me(&std::fs::metadata("/").unwrap()));
        }
    }

    /// `bytes` with each `from` replaced by `to`, of the same length.
    fn replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
        assert_eq!(from.len(), to.len());
        let mut out = bytes.to_vec();
        let mut found = 0;
        for at in 0..=out.len() - from.len() {
            if &out[at..at + from.len()] == from {
                out[at..at + from.len()].copy_from_slice(to);
                found += 1;
            }
        }
        assert!(
            found > 0,
            "{:?} not in the cache",
            String::from_utf8_lossy(from)
        );
        out
    }

    #[test]
    fn an_edited_file_is_read_again() {
        let s = setup(RULES);
        cached(&s.file, &s.cache, "PreToolUse");
        // The same size, so only the file's times tell the edit.
        let edited = RULES.replace("\"deny-rm\"", "\"deny-RM\"");
        assert_eq!(edited.len(), RULES.len());
        std::fs::write(&s.file, &edited).unwrap();
        let (ids, ..) = cached(&s.file, &s.cache, "PreToolUse");
        assert!(ids.contains(&"deny-RM".to_string()), "{ids:?}");
        // Replaced by a rename, as editors save.
        let next = s.file.with_extension("new");
        std::fs::write(&next, RULES.replace("\"deny-rm\"", "\"deny-Rm\"")).unwrap();
        std::fs::rename(&next, &s.file).unwrap();
        let (ids, ..) = cached(&s.file, &s.cache, "PreToolUse");
        assert!(ids.contains(&"deny-Rm".to_string()), "{ids:?}");
    }

    #[test]
    fn only_a_settled_file_of_the_user_is_cached() {
        // Just written: its times could still miss a change made within the tick.
        let s = setup(RULES);
        load(
            &s.file,
            &s.cache,
            "PreToolUse",
            None,
            false,
            &mut Vec::new(),
        )
        .unwrap();
        assert!(!s.cache.parent().unwrap().exists(), "nothing written");
        // A file that does not parse is reported each time, not cached.
        let s = setup("[[rule]\n");
        let mut problems = Vec::new();
        let read = load_settled(
            &s.file,
            &s.cache,
            "PreToolUse",
            None,
            false,
            &mut problems,
            Duration::ZERO,
        )
        .unwrap();
        assert!(read.is_some_and(|r| r.is_err()));
        assert!(!s.cache.exists());
        // A missing file is no rules.
        let s = setup("");
        std::fs::remove_file(&s.file).unwrap();
        assert!(load(
            &s.file,
            &s.cache,
            "PreToolUse",
            None,
            false,
            &mut Vec::new()
        )
        .unwrap()
        .is_none());
        if rustix::process::geteuid().is_root() {
            let s = setup(RULES);
            std::os::unix::fs::chown(&s.file, Some(65534), Some(65534)).unwrap();
            assert_eq!(
                cached(&s.file, &s.cache, "PreToolUse"),
                fresh(RULES, "PreToolUse")
            );
            assert!(!s.cache.exists(), "a file of another owner is never cached");
        } else {
            assert!(!owned_by_me(&std::fs::metadata("/").unwrap()));
        }
    }

    #[test]
    fn the_hook_caches_the_users_layer_and_never_the_admins() {
        let s = setup(RULES);
        let admin = s.file.with_file_name("admin.toml");
        std::fs::write(
            &admin,
            "user_allow_rules = false\n[[rule]]\nid = \"admin-rule\"\naction = \"deny\"\ncommand = 'shutdown'\n",
        )
        .unwrap();
        let mut problems = Vec::new();
        // Cache it the way the first settled event does, then load as the hook.
        cached(&s.file, &s.cache, "PermissionRequest");
        let cache = Cache {
            path: &s.cache,
            input: None,
        };
        let rules = load_policy(
            Some(&admin),
            &s.file,
            Some(cache),
            "PermissionRequest",
            &mut problems,
        );
        let ids: Vec<&str> = rules.ids().collect();
        assert!(
            ids.contains(&"admin-rule") && ids.contains(&"deny-rm"),
            "{ids:?}"
        );
        assert!(
            !ids.contains(&"allow-make"),
            "the admin turned user allows off: {ids:?}"
        );
        let cache = std::fs::read(&s.cache).unwrap();
        assert!(!cache.windows(10).any(|w| w == b"admin-rule"));
        assert!(cache.windows(7).any(|w| w == b"deny-rm"));
        assert!(problems
            .iter()
            .all(|p| p.starts_with(&s.file.display().to_string())));
        assert!(
            problems.iter().any(|p| p.contains("surprise")),
            "{problems:?}"
        );
    }
}
