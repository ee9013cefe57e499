//! Takes secrets out of a command or prompt before the runtime writes it to its log,
//! keeping the text around them so a person can still read what was run.
//!
//! A hand-written scanner rather than regexes: it runs in every hook, whose whole
//! budget is a millisecond or two, and one pass over the bytes of a typical
//! 100-character command takes under a microsecond (release build). Every span it
//! replaces starts and ends next to an ASCII byte (or at an end of the text), so any
//! UTF-8 input is safe to cut.
//!
//! What counts as a secret:
//! - the value of a key that names one (`PGPASSWORD=x`, `--token x`, `--api-key=x`,
//!   `"client_secret": "x"`, `password: x`, `X-Api-Key: x`, `Authorization: Bearer x`,
//!   `aws_secret_access_key <long random value>`), but not of a key that names where a
//!   secret is (`--token-file ./x`, `*_path`, `*_dir`, `*_id`, ...), nor a value that is
//!   a path relative to here or home (`./x`, `~/x`), a `$VARIABLE`, or yes/no/true/false;
//! - `mysql -pSECRET`, `sshpass -p SECRET`, `curl -u user:SECRET`;
//! - well-known token shapes anywhere (OpenAI, GitHub, GitLab, Slack, AWS, Google,
//!   Stripe, JWTs);
//! - the password in `scheme://user:password@host`;
//! - the body of a PEM private key block.

/// What a secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// `text` with every secret replaced by [`REDACTED`]. Idempotent.
pub fn redact(text: &str) -> String {
    let mut out = redact_once(text);
    // One replacement can take away what another pattern ended at (a quote, an
    // `-----END `): scan again until nothing changes, so a second `redact` never finds
    // more. Text without secrets, the usual case, is scanned once.
    for _ in 0..3 {
        if !out.contains(REDACTED) {
            break;
        }
        let again = redact_once(&out);
        if again == out {
            break;
        }
        out = again;
    }
    out
}

fn redact_once(text: &str) -> String {
    let mut spans = Vec::new();
    private_key_blocks(text, &mut spans);
    url_passwords(text, &mut spans);
    words(text.as_bytes(), &mut spans);
    replace(text, spans)
}

/// [`redact`]ed `text`, cut to at most `max_chars` characters; a cut text ends in `…`
/// (counted in `max_chars`).
pub fn excerpt(text: &str, max_chars: usize) -> String {
    let redacted = redact(text);
    if redacted.char_indices().nth(max_chars).is_none() {
        return redacted;
    }
    let Some(keep) = max_chars.checked_sub(1) else {
        return String::new();
    };
    let end = redacted
        .char_indices()
        .nth(keep)
        .map_or(redacted.len(), |(i, _)| i);
    let mut out = String::with_capacity(end + '…'.len_utf8());
    out.push_str(&redacted[..end]);
    out.push('…');
    out
}

/// A byte range of the text to replace.
type Span = (usize, usize);

/// Authorization schemes: the word after them is the secret, the scheme stays.
const SCHEMES: [&[u8]; 8] = [
    b"bearer",
    b"basic",
    b"token",
    b"digest",
    b"negotiate",
    b"ntlm",
    b"apikey",
    b"dpop",
];

/// Values that are settings, not secrets (`PasswordAuthentication=no`).
const PLAIN_VALUES: [&[u8]; 11] = [
    b"true", b"false", b"yes", b"no", b"on", b"off", b"none", b"null", b"nil", b"0", b"1",
];

/// A key part naming one of these ends in a secret.
const SECRET_ENDINGS: [&str; 11] = [
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "passphrase",
    "storepass",
    "keypass",
];

/// Last key parts that say the value is about a secret, not the secret itself.
const NOT_SECRET_LAST: [&str; 42] = [
    "file",
    "files",
    "path",
    "dir",
    "directory",
    "id",
    "name",
    "names",
    "type",
    "url",
    "uri",
    "endpoint",
    "host",
    "len",
    "length",
    "count",
    "limit",
    "ttl",
    "expiry",
    "expires",
    "expiration",
    "mode",
    "method",
    "header",
    "prefix",
    "env",
    "var",
    "stdin",
    "prompt",
    "cmd",
    "command",
    "helper",
    "store",
    "sock",
    "socket",
    "policy",
    "version",
    "provider",
    "source",
    "scope",
    "scopes",
    "user",
];

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.')
}

fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// Where an unquoted value ends: shell metacharacters, quotes, and JSON/list separators.
fn is_stop(c: u8) -> bool {
    c.is_ascii_whitespace()
        || matches!(
            c,
            b'"' | b'\'' | b'`' | b';' | b'&' | b'|' | b'(' | b')' | b'<' | b'>' | b',' | b'}'
        )
}

fn skip_blanks(b: &[u8], mut i: usize) -> usize {
    while b.get(i).copied().is_some_and(is_blank) {
        i += 1;
    }
    i
}

fn contains_ci(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Already redacted, or a reference to a secret kept elsewhere (`$TOKEN`, `$(cat f)`).
fn is_placeholder(v: &[u8]) -> bool {
    v.starts_with(REDACTED.as_bytes())
        || (v.first() == Some(&b'$')
            && v.get(1)
                .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, b'_' | b'{' | b'(')))
}

/// A value after a secret-ish key that is not a secret.
fn is_harmless(v: &[u8]) -> bool {
    is_placeholder(v)
        || v.starts_with(b"./")
        || v.starts_with(b"../")
        || v.starts_with(b"~/")
        || PLAIN_VALUES.iter().any(|p| v.eq_ignore_ascii_case(p))
        || SCHEMES.iter().any(|s| v.eq_ignore_ascii_case(s))
}

/// Collects the spans, merges those that overlap or touch, and rebuilds the text.
fn replace(text: &str, mut spans: Vec<Span>) -> String {
    if spans.is_empty() {
        return text.to_owned();
    }
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    let mut current: Option<Span> = None;
    for (s, e) in spans {
        match current {
            Some((cs, ce)) if s <= ce => current = Some((cs, ce.max(e))),
            _ => {
                if let Some((cs, ce)) = current {
                    out.push_str(&text[pos..cs]);
                    out.push_str(REDACTED);
                    pos = ce;
                }
                current = Some((s.max(pos), e.max(pos)));
            }
        }
    }
    if let Some((cs, ce)) = current {
        out.push_str(&text[pos..cs]);
        out.push_str(REDACTED);
        pos = ce;
    }
    out.push_str(&text[pos..]);
    out
}

/// `-----BEGIN ... PRIVATE KEY-----`: everything up to the matching END line (or the
/// end of the text, for a cut excerpt) except the surrounding blank space.
fn private_key_blocks(text: &str, spans: &mut Vec<Span>) {
    const BEGIN: &str = "-----BEGIN ";
    let b = text.as_bytes();
    let mut from = 0;
    while let Some(p) = text[from..].find(BEGIN) {
        let label_start = from + p + BEGIN.len();
        // Labels are short (`ENCRYPTED PRIVATE KEY`): look no further than one could be.
        let label = b[label_start..]
            .iter()
            .take(64)
            .take_while(|&&c| c != b'\n')
            .position(|&c| c == b'-')
            .filter(|&q| b[label_start + q..].starts_with(b"-----"))
            .map(|q| &text[label_start..label_start + q]);
        let Some(label) = label.filter(|l| l.contains("PRIVATE KEY")) else {
            from = label_start;
            continue;
        };
        let body_start = label_start + label.len() + 5;
        let body_end = text[body_start..]
            .find("-----END ")
            .map_or(text.len(), |n| body_start + n);
        let body = &b[body_start..body_end];
        let lead = body.iter().take_while(|c| c.is_ascii_whitespace()).count();
        let trail = body[lead..]
            .iter()
            .rev()
            .take_while(|c| c.is_ascii_whitespace())
            .count();
        let (s, e) = (body_start + lead, body_end - trail);
        if s < e && &b[s..e] != REDACTED.as_bytes() {
            spans.push((s, e));
        }
        from = body_end;
    }
}

/// `scheme://user:password@host`: the password.
fn url_passwords(text: &str, spans: &mut Vec<Span>) {
    let b = text.as_bytes();
    for (p, _) in text.match_indices("://") {
        if p == 0 || !b[p - 1].is_ascii_alphanumeric() {
            continue;
        }
        let start = p + 3;
        let end = b[start..]
            .iter()
            .position(|&c| {
                c.is_ascii_whitespace()
                    || matches!(
                        c,
                        b'/' | b'?' | b'#' | b'"' | b'\'' | b'`' | b'<' | b'>' | b'\\'
                    )
            })
            .map_or(b.len(), |n| start + n);
        let Some(at) = b[start..end].iter().rposition(|&c| c == b'@') else {
            continue;
        };
        let at = start + at;
        let Some(colon) = b[start..at].iter().position(|&c| c == b':') else {
            continue;
        };
        let s = start + colon + 1;
        if s < at && !is_placeholder(&b[s..at]) {
            spans.push((s, at));
        }
    }
}

/// Which programs with their own password flags appear in the text, found only when
/// a short option makes it matter.
#[derive(Clone, Copy)]
struct Tools {
    mysql: bool,
    sshpass: bool,
    curl: bool,
}

impl Tools {
    fn of(b: &[u8]) -> Tools {
        Tools {
            mysql: contains_ci(b, b"mysql") || contains_ci(b, b"mariadb"),
            sshpass: contains_ci(b, b"sshpass"),
            curl: contains_ci(b, b"curl"),
        }
    }
}

/// Every run of word characters (`[A-Za-z0-9_.-]`): a token shape, `Bearer x`, a
/// tool's password option, or a key followed by its value.
fn words(b: &[u8], spans: &mut Vec<Span>) {
    let mut tools = None;
    let mut i = 0;
    while i < b.len() {
        if !is_word(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && is_word(b[i]) {
            i += 1;
        }
        let before = spans.len();
        if let Some(end) = known_token(b, start) {
            spans.push((start, end));
            // What follows the token in the same run is a run of its own.
            i = end;
            continue;
        } else if b[start..i].eq_ignore_ascii_case(b"bearer") {
            spans.extend(bearer_value(b, i));
        } else if !(b[start] == b'-' && tool_option(b, start, i, &mut tools, spans)) {
            key_value(b, start, i, spans);
        }
        // Go on after a redacted value: what is inside it is gone anyway, and an
        // unclosed quote would otherwise be scanned again by every key before it.
        if spans.len() > before {
            i = spans[before..].iter().fold(i, |i, &(_, e)| i.max(e));
        }
    }
}

/// How many bytes from `from` satisfy `class`.
fn count(b: &[u8], from: usize, class: impl Fn(u8) -> bool) -> usize {
    b[from..].iter().take_while(|&&c| class(c)).count()
}

fn alnum(c: u8) -> bool {
    c.is_ascii_alphanumeric()
}

fn base64url(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

/// A token's prefix, the characters of its rest, and the fewest of them after the prefix.
type Shape = (&'static [u8], fn(u8) -> bool, usize);

/// The end of a well-known token starting at `start`.
fn known_token(b: &[u8], start: usize) -> Option<usize> {
    let rest = &b[start..];
    let shapes: &[Shape] = match rest.first()? {
        b's' => &[
            (b"sk_live_", alnum, 10),
            (b"sk_test_", alnum, 10),
            (b"sk-", base64url, 20),
        ],
        b'r' => &[(b"rk_live_", alnum, 10), (b"rk_test_", alnum, 10)],
        b'g' => &[
            (b"ghp_", alnum, 20),
            (b"gho_", alnum, 20),
            (b"ghu_", alnum, 20),
            (b"ghs_", alnum, 20),
            (b"ghr_", alnum, 20),
            (b"github_pat_", |c| alnum(c) || c == b'_', 20),
            (b"glpat-", base64url, 20),
        ],
        b'x' => &[
            (b"xoxa-", |c| alnum(c) || c == b'-', 10),
            (b"xoxb-", |c| alnum(c) || c == b'-', 10),
            (b"xoxp-", |c| alnum(c) || c == b'-', 10),
            (b"xoxo-", |c| alnum(c) || c == b'-', 10),
            (b"xoxs-", |c| alnum(c) || c == b'-', 10),
            (b"xoxr-", |c| alnum(c) || c == b'-', 10),
        ],
        b'A' => {
            if rest.starts_with(b"AKIA") || rest.starts_with(b"ASIA") {
                let n = count(b, start + 4, |c| {
                    c.is_ascii_uppercase() || c.is_ascii_digit()
                });
                let next = b.get(start + 4 + n).copied();
                return (n == 16 && !next.is_some_and(|c| c.is_ascii_lowercase()))
                    .then_some(start + 20);
            }
            &[(b"AIza", base64url, 35)]
        }
        b'e' => return jwt(b, start),
        _ => return None,
    };
    for &(prefix, class, min) in shapes {
        if rest.starts_with(prefix) {
            let from = start + prefix.len();
            let n = count(b, from, class);
            // `sk-` also starts ordinary words; a key has digits.
            let random = prefix != b"sk-" || b[from..from + n].iter().any(u8::is_ascii_digit);
            if n >= min && random {
                return Some(from + n);
            }
        }
    }
    None
}

/// `eyJ<header>.eyJ<payload>.<signature>`.
fn jwt(b: &[u8], start: usize) -> Option<usize> {
    let header = count(b, start, base64url);
    let dot = start + header;
    if header < 10 || !b[start..].starts_with(b"eyJ") || b.get(dot) != Some(&b'.') {
        return None;
    }
    let payload = count(b, dot + 1, base64url);
    let dot2 = dot + 1 + payload;
    if payload < 10 || !b[dot + 1..].starts_with(b"eyJ") || b.get(dot2) != Some(&b'.') {
        return None;
    }
    Some(dot2 + 1 + count(b, dot2 + 1, base64url))
}

/// The token after a `Bearer` that stands alone (not after an `Authorization` key).
fn bearer_value(b: &[u8], end: usize) -> Option<Span> {
    let s = skip_blanks(b, end);
    let n = count(b, s, |c| {
        c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'~' | b'+' | b'/' | b'=' | b'-')
    });
    (s > end && n >= 8).then_some((s, s + n))
}

/// `mysql -pSECRET`, `sshpass -p SECRET`, `curl -u user:SECRET`. True when the option
/// was one of these.
fn tool_option(
    b: &[u8],
    start: usize,
    end: usize,
    tools: &mut Option<Tools>,
    spans: &mut Vec<Span>,
) -> bool {
    let run = &b[start..end];
    let after_blank = start == 0 || b[start - 1].is_ascii_whitespace();
    if !after_blank || !(run.starts_with(b"-p") || run == b"-u" || run == b"--user") {
        return false;
    }
    let tools = *tools.get_or_insert_with(|| Tools::of(b));
    let next = b.get(end).copied();
    if tools.mysql
        && run.starts_with(b"-p")
        && (run.len() > 2 || matches!(next, Some(b'"' | b'\'')))
    {
        spans.extend(value(b, start + 2));
        return true;
    }
    if tools.sshpass && run == b"-p" && next.is_some_and(is_blank) {
        spans.extend(value(b, skip_blanks(b, end)));
        return true;
    }
    if tools.curl && (run == b"-u" || run == b"--user") {
        let at = match next {
            Some(b'=') => end + 1,
            Some(c) if is_blank(c) => skip_blanks(b, end),
            _ => return false,
        };
        if let Some((s, e)) = value(b, at) {
            if let Some(colon) = b[s..e].iter().position(|&c| c == b':') {
                let s = s + colon + 1;
                if s < e && !is_placeholder(&b[s..e]) {
                    spans.push((s, e));
                }
            }
        }
        return true;
    }
    false
}

/// A key that names a secret followed by its value: `KEY=v`, `key: v`, `--key v`,
/// `"key": "v"`, `["--key", "v"]`, or `key <long random value>`.
fn key_value(b: &[u8], start: usize, end: usize, spans: &mut Vec<Span>) {
    let dashes = count(b, start, |c| c == b'-').min(end - start);
    let key = &b[start + dashes..end];
    if !names_secret(key) {
        return;
    }
    let quote = start
        .checked_sub(1)
        .map(|p| b[p])
        .filter(|c| matches!(c, b'"' | b'\''));
    let mut k = end;
    if let Some(q) = quote {
        if b.get(k) == Some(&b'\\') && b.get(k + 1) == Some(&q) {
            k += 2;
        } else if b.get(k) == Some(&q) {
            k += 1;
        }
    }
    let at = skip_blanks(b, k);
    let spaced = at > k;
    let found = match b.get(at).copied() {
        Some(b'=') if !matches!(b.get(at + 1), Some(b'=' | b'>' | b'~')) => {
            value(b, skip_blanks(b, at + 1))
        }
        Some(b':')
            if b.get(at + 1) != Some(&b':')
                && !b[at + 1..].starts_with(b"//")
                && !(start >= 3 && &b[start - 3..start] == b"://") =>
        {
            value(b, skip_blanks(b, at + 1))
        }
        Some(b',') if quote.is_some() && dashes > 0 => {
            let v = skip_blanks(b, at + 1);
            matches!(b.get(v), Some(b'"' | b'\''))
                .then(|| value(b, v))
                .flatten()
        }
        Some(c) if spaced && dashes > 0 && c != b'-' => value(b, at),
        // `git config user.password x`
        Some(c) if spaced && dashes == 0 && c != b'-' && dotted_secret(key) => value(b, at),
        Some(_) if spaced && dashes == 0 => value(b, at).filter(|&(s, e)| looks_random(&b[s..e])),
        _ => None,
    };
    spans.extend(found);
}

/// A dotted setting whose last part names a secret (`user.password`, not `test_auth.py`).
fn dotted_secret(key: &[u8]) -> bool {
    key.iter()
        .rposition(|&c| c == b'.')
        .is_some_and(|dot| names_secret(&key[dot + 1..]))
}

/// A long hex or base64 value, as opposed to a word.
fn looks_random(v: &[u8]) -> bool {
    v.len() >= 20
        && v[0].is_ascii_alphanumeric()
        && v.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b'_' | b'-'))
        && v.iter().any(u8::is_ascii_digit)
        && v.iter().any(u8::is_ascii_alphabetic)
}

/// The value starting at `start` (quoted, or up to a stop character), past an
/// authorization scheme; `None` when it is empty or harmless.
fn value(b: &[u8], start: usize) -> Option<Span> {
    let (s, close): (usize, Option<&[u8]>) = match b.get(start..)? {
        [b'\\', b'"', ..] => (start + 2, Some(b"\\\"")),
        [b'"', ..] => (start + 1, Some(b"\"")),
        [b'\'', ..] => (start + 1, Some(b"'")),
        _ => (start, None),
    };
    let s = skip_scheme(b, s);
    let e = match close {
        Some(close) => closing(b, s, close),
        None => b[s..]
            .iter()
            .position(|&c| is_stop(c))
            .map_or(b.len(), |n| s + n),
    };
    let v = &b[s..e];
    (!v.is_empty() && !is_harmless(v) && !is_placeholder(&b[s..])).then_some((s, e))
}

/// Past `Bearer ` (or another scheme followed by a blank) at `s`.
fn skip_scheme(b: &[u8], s: usize) -> usize {
    let n = count(b, s, |c| c.is_ascii_alphanumeric() || c == b'-');
    let word = &b[s..s + n];
    if n > 0 && SCHEMES.iter().any(|x| word.eq_ignore_ascii_case(x)) {
        let after = skip_blanks(b, s + n);
        if after > s + n {
            return after;
        }
    }
    s
}

/// Where the quote `close` that ends a value starting at `from` is.
fn closing(b: &[u8], from: usize, close: &[u8]) -> usize {
    let mut k = from;
    while k < b.len() {
        if b[k..].starts_with(close) && !(close == b"\"" && k > from && b[k - 1] == b'\\') {
            return k;
        }
        k += 1;
    }
    b.len()
}

/// Whether a key (without its leading dashes) names a secret, judged on its parts
/// (`GITHUB_TOKEN`, `x-api-key`, `clientSecret`): `max_tokens` and `tokenizer` do not,
/// `--token-file` and `--author` do not.
fn names_secret(key: &[u8]) -> bool {
    if !has_hint(key) || key == b"PWD" || key == b"OLDPWD" {
        return false;
    }
    let parts = parts(key);
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return false;
    };
    if first == "no" || (parts.len() > 1 && NOT_SECRET_LAST.contains(&last.as_str())) {
        return false;
    }
    parts.iter().any(|p| {
        p == "pass"
            || SECRET_ENDINGS.iter().any(|e| p.ends_with(e))
            || p.ends_with("auth")
            || (p.starts_with("auth") && (!p.starts_with("author") || p.starts_with("authoriz")))
    }) || parts
        .windows(2)
        .any(|w| w[1] == "key" && matches!(w[0].as_str(), "api" | "access" | "private" | "secret"))
}

/// A cheap first look: could this key name a secret at all?
fn has_hint(key: &[u8]) -> bool {
    (0..key.len()).any(|i| {
        let rest = &key[i..];
        let starts = |w: &[u8]| rest.len() >= w.len() && rest[..w.len()].eq_ignore_ascii_case(w);
        match key[i].to_ascii_lowercase() {
            b'p' => starts(b"pass") || starts(b"pwd"),
            b's' => starts(b"secret"),
            b't' => starts(b"token"),
            b'a' => starts(b"auth"),
            b'k' => starts(b"key"),
            _ => false,
        }
    })
}

/// A key's parts, lowercase: split at `_`, `-`, `.` and camelCase humps.
fn parts(key: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for (i, &c) in key.iter().enumerate() {
        if matches!(c, b'_' | b'-' | b'.') {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if c.is_ascii_uppercase() && !current.is_empty() {
            let prev = key[i - 1];
            let next_lower = key.get(i + 1).is_some_and(u8::is_ascii_lowercase);
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push(std::mem::take(&mut current));
            }
        }
        current.push(c.to_ascii_lowercase() as char);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7b9\nx+Y/z==\n-----END RSA PRIVATE KEY-----";

    /// (input, expected output)
    const CASES: &[(&str, &str)] = &[
        // Authorization and API-key headers.
        (
            "curl -H 'Authorization: Bearer abc123def456' https://api.example.com/v1",
            "curl -H 'Authorization: Bearer [REDACTED]' https://api.example.com/v1",
        ),
        (
            "curl -H \"Authorization: Basic dXNlcjpwYXNzd29yZA==\" https://x.test",
            "curl -H \"Authorization: Basic [REDACTED]\" https://x.test",
        ),
        (
            "curl --header 'authorization: s3cr3t-value' x",
            "curl --header 'authorization: [REDACTED]' x",
        ),
        (
            "curl -H 'X-Api-Key: 0123456789abcdef' https://x.test",
            "curl -H 'X-Api-Key: [REDACTED]' https://x.test",
        ),
        (
            "curl -H 'PRIVATE-TOKEN: abcdef' -H \"x-goog-api-key: q1w2e3\" u",
            "curl -H 'PRIVATE-TOKEN: [REDACTED]' -H \"x-goog-api-key: [REDACTED]\" u",
        ),
        (
            "http GET x.test Authorization:'Bearer abc def'",
            "http GET x.test Authorization:'Bearer [REDACTED]'",
        ),
        ("send it with Bearer abcdefgh1234", "send it with Bearer [REDACTED]"),
        // key=value, key: value, --key value, --key=value.
        ("PGPASSWORD=hunter2 psql -h db", "PGPASSWORD=[REDACTED] psql -h db"),
        ("psql --password hunter2 -h db", "psql --password [REDACTED] -h db"),
        ("tool --password=hunter2", "tool --password=[REDACTED]"),
        ("export GITHUB_TOKEN=abc123", "export GITHUB_TOKEN=[REDACTED]"),
        ("mysql -u root -psecret shop", "mysql -u root -p[REDACTED] shop"),
        ("mysql -u root -p'se cret' shop", "mysql -u root -p'[REDACTED]' shop"),
        ("sshpass -p hunter2 ssh host", "sshpass -p [REDACTED] ssh host"),
        ("curl -u admin:hunter2 https://x.test", "curl -u admin:[REDACTED] https://x.test"),
        ("password: hunter2", "password: [REDACTED]"),
        ("db_passwd=a MYSQL_PWD=b secret=c", "db_passwd=[REDACTED] MYSQL_PWD=[REDACTED] secret=[REDACTED]"),
        (
            "api_key=a apikey=b api-key=c access_key=d private_key=e client_secret=f auth=g",
            "api_key=[REDACTED] apikey=[REDACTED] api-key=[REDACTED] access_key=[REDACTED] \
             private_key=[REDACTED] client_secret=[REDACTED] auth=[REDACTED]",
        ),
        (
            "AWS_SECRET_ACCESS_KEY=wJalr/K7MDENG AWS_SESSION_TOKEN=\"Fw//ZXIvYXdzE\" cmd",
            "AWS_SECRET_ACCESS_KEY=[REDACTED] AWS_SESSION_TOKEN=\"[REDACTED]\" cmd",
        ),
        (
            "{\"client_secret\":\"s3cr3t\",\"name\":\"x\"}",
            "{\"client_secret\":\"[REDACTED]\",\"name\":\"x\"}",
        ),
        (
            "{\\\"apiKey\\\": \\\"abc\\\"}",
            "{\\\"apiKey\\\": \\\"[REDACTED]\\\"}",
        ),
        ("[\"--token\", \"abc\", \"run\"]", "[\"--token\", \"[REDACTED]\", \"run\"]"),
        (
            "psql 'Server=db;Uid=sa;Pwd=s3cret;'",
            "psql 'Server=db;Uid=sa;Pwd=[REDACTED];'",
        ),
        (
            "kubectl create secret generic x --from-literal=password=abc",
            "kubectl create secret generic x --from-literal=password=[REDACTED]",
        ),
        (
            "docker run -e POSTGRES_PASSWORD=pw -e clientSecret='a b' img",
            "docker run -e POSTGRES_PASSWORD=[REDACTED] -e clientSecret='[REDACTED]' img",
        ),
        (
            "keytool -storepass changeit -keypass k3y",
            "keytool -storepass [REDACTED] -keypass [REDACTED]",
        ),
        ("https://x.test/cb?code=1&access_token=abc&x=2", "https://x.test/cb?code=1&access_token=[REDACTED]&x=2"),
        ("git config --global user.password abc", "git config --global user.password [REDACTED]"),
        ("x --token \"a b", "x --token \"[REDACTED]"),
        // Long random values after a secret-ish key.
        (
            "aws configure set aws_secret_access_key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "aws configure set aws_secret_access_key [REDACTED]",
        ),
        (
            "the token 3f2a9c0d7e1b4a5c6d8e9f0a1b2c3d4e was revoked",
            "the token [REDACTED] was revoked",
        ),
        // Token shapes anywhere.
        ("echo sk-abcdefghij0123456789ABCD", "echo [REDACTED]"),
        ("OPENAI_KEY=sk-proj-Ab3_dEf-GhIjKlMnOp1234567890", "OPENAI_KEY=[REDACTED]"),
        ("gh auth login ghp_abcdefghijklmnopqrstuvwxyz0123456789", "gh auth login [REDACTED]"),
        ("x gho_ABCDEFGHIJKLMNOPQRST0123 ghu_ABCDEFGHIJKLMNOPQRST0123", "x [REDACTED] [REDACTED]"),
        ("x ghs_ABCDEFGHIJKLMNOPQRST0123 ghr_ABCDEFGHIJKLMNOPQRST0123", "x [REDACTED] [REDACTED]"),
        ("x github_pat_11ABCDEFG0_abcdefghijklmnopqrstuv", "x [REDACTED]"),
        ("git remote add o glpat-AbCdEfGhIj0123456789", "git remote add o [REDACTED]"),
        ("slack xoxb-123456789012-abcdefABCDEF", "slack [REDACTED]"),
        ("slack xoxp-1-2-3-abcdef xoxa-2-abcdefghij xoxr-abcdefghij0", "slack [REDACTED] [REDACTED] [REDACTED]"),
        ("aws s3 ls # AKIAIOSFODNN7EXAMPLE.", "aws s3 ls # [REDACTED]."),
        ("ASIAABCDEFGHIJKLMNOP", "[REDACTED]"),
        ("maps?k=AIzaSyA1234567890abcdefghijklmnopqrstuv&z=3", "maps?k=[REDACTED]&z=3"),
        ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc rk_live_abcdef123456", "stripe [REDACTED] [REDACTED]"),
        (
            "curl -b jwt=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk x",
            "curl -b jwt=[REDACTED] x",
        ),
        // Credentials in URLs.
        ("psql postgres://app:s3cret@db:5432/app", "psql postgres://app:[REDACTED]@db:5432/app"),
        (
            "git clone https://x-access-token:p@ss@github.com/o/r.git",
            "git clone https://x-access-token:[REDACTED]@github.com/o/r.git",
        ),
        (
            "git clone https://token:abc@github.com/o/r",
            "git clone https://token:[REDACTED]@github.com/o/r",
        ),
        (
            "git clone https://ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com/o/r",
            "git clone https://[REDACTED]@github.com/o/r",
        ),
        // PEM private keys, whole or cut.
        (
            "printf '%s' '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7b9\nx+Y/z==\n-----END RSA PRIVATE KEY-----' > k",
            "printf '%s' '-----BEGIN RSA PRIVATE KEY-----\n[REDACTED]\n-----END RSA PRIVATE KEY-----' > k",
        ),
        (
            "cat <<EOF\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA",
            "cat <<EOF\n-----BEGIN OPENSSH PRIVATE KEY-----\n[REDACTED]",
        ),
        // Multi-byte characters next to secrets.
        ("пароль PASSWORD=héllo✓ ок", "пароль PASSWORD=[REDACTED] ок"),
        ("ключ:sk-abcdefghij0123456789ABCD…", "ключ:[REDACTED]…"),
        ("token=🔑🔑 ✓", "token=[REDACTED] ✓"),
    ];

    /// Text that must come out unchanged.
    const PLAIN: &[&str] = &[
        "",
        "ls -la",
        "git push origin main",
        "cargo test --token-file ./x",
        "gh auth login --with-token < ~/.secrets/gh",
        "npm run auth-tests",
        "cat /home/me/.config/gh/hosts.yml ~/.aws/credentials secrets.txt",
        "please rotate the API token, the password expired",
        "git commit -m 'fix password reset'",
        "git log --author=alice --no-auth x",
        "ssh -o PasswordAuthentication=no -o PubkeyAuthentication=yes host",
        "export PWD=/tmp OLDPWD=/home",
        "mkdir -p build && cp -pr a b && ssh -p 22 host",
        "python gen.py max_tokens=100 --max-new-tokens 20 tokenizer=bert",
        "cargo test tokenizer::tests auth::tests",
        "curl http://localhost:8080/api?page=2 https://user@example.com/x",
        "pytest tests/test_auth.py -k token",
        "echo \"token: $GITHUB_TOKEN\" && curl -H \"Authorization: Bearer ${TOKEN}\" x",
        "tool --api-key $(cat ~/.key) --password=\"$PW\"",
        "aws secretsmanager get-secret-value --secret-id prod/db",
        "ssh-keygen -t ed25519 -f ~/.ssh/id && sort --key 2 f",
        "openssl x509 -in cert.pem -----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        "grep -rn 'sk-learn' . && task-sk-abcdefghijklmnopqrstuvwxyz",
        "docker login --password-stdin registry.example.com",
        "ansible-playbook --private-key ~/.ssh/deploy site.yml",
        "SSH_AUTH_SOCK=/tmp/agent.1 git fetch",
        "mysql -u root -p shop",
        "Bearer tokens expire",
        "日本語のテキスト token ✓",
    ];

    #[test]
    fn secrets_are_replaced_and_the_rest_is_kept() {
        for (input, expected) in CASES {
            assert_eq!(redact(input), *expected, "input: {input:?}");
        }
    }

    #[test]
    fn ordinary_text_is_unchanged() {
        for input in PLAIN {
            assert_eq!(redact(input), *input);
        }
    }

    #[test]
    fn redact_is_idempotent() {
        for input in CASES.iter().map(|(i, _)| *i).chain(PLAIN.iter().copied()) {
            let once = redact(input);
            assert_eq!(redact(&once), once, "input: {input:?}");
        }
    }

    #[test]
    fn any_utf8_around_secrets_is_safe() {
        let samples = [
            "PGPASSWORD=hunter2 psql",
            "--token 'x' sk-abcdefghij0123456789ABCD",
            "https://u:p@h/ Authorization: Bearer abcdefgh123",
            PEM,
            "mysql -psecret curl -u a:b sshpass -p x",
            "{\"password\":\"x\"}",
        ];
        for sample in samples {
            for (i, _) in sample.char_indices().chain([(sample.len(), ' ')]) {
                for insert in ["é", "✓", "🔑", "\u{0301}", "\u{a0}"] {
                    let text = format!("{}{insert}{}", &sample[..i], &sample[i..]);
                    let out = redact(&text);
                    assert_eq!(redact(&out), out, "input: {text:?}");
                    assert!(excerpt(&text, 7).chars().count() <= 7, "input: {text:?}");
                }
            }
        }
    }

    #[test]
    fn excerpts_redact_first_then_cut_on_a_char_boundary() {
        assert_eq!(
            excerpt("PGPASSWORD=hunter2 psql -h db", 100),
            "PGPASSWORD=[REDACTED] psql -h db"
        );
        assert_eq!(excerpt("PGPASSWORD=hunter2 psql", 16), "PGPASSWORD=[RED…");
        assert_eq!(excerpt("échec ✓✓✓", 7), "échec …");
        assert_eq!(excerpt("abc", 3), "abc");
        assert_eq!(excerpt("abcd", 3), "ab…");
        assert_eq!(excerpt("abcd", 1), "…");
        assert_eq!(excerpt("abcd", 0), "");
        // A secret longer than the excerpt is not half shown.
        assert_eq!(
            excerpt("ghp_abcdefghijklmnopqrstuvwxyz0123456789", 8),
            "[REDACT…"
        );
    }

    #[test]
    fn typical_commands_take_microseconds() {
        // A rough figure for `cargo test -- --nocapture`; timings are not asserted.
        let commands = [
            "cargo test -p codex-guard --test events -- --nocapture 2>&1 | tail -n 40",
            "curl -sS -H 'Authorization: Bearer abc123def456' https://api.example.com/v1/items?page=2",
            "PGPASSWORD=hunter2 psql -h db.internal -U app -c 'select count(*) from users'",
        ];
        let start = std::time::Instant::now();
        let rounds = 1_000;
        for _ in 0..rounds {
            for command in commands {
                std::hint::black_box(redact(std::hint::black_box(command)));
            }
        }
        let each = start.elapsed() / (rounds * u32::try_from(commands.len()).unwrap());
        println!("redact: {each:?} per command");
        // Unclosed quotes and unfinished blocks must not make the scan quadratic.
        let start = std::time::Instant::now();
        let big = "token=\"a -----BEGIN PRIVATE KEY-----x https://a:b@".repeat(5_000);
        assert!(redact(&big).starts_with("token=\"[REDACTED]"));
        println!("redact: {:?} for {} bytes", start.elapsed(), big.len());
    }
}
