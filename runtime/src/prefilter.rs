//! A rule regex's prefilter: strings one of which every match must contain, found
//! by `regex-syntax`'s literal extraction, so that a hook event whose text holds
//! none of them never compiles or runs the regex. A regex for which no such set can
//! be proven has no prefilter and is always compiled and run.
//!
//! The rules run on `regex-lite`, whose syntax is the `regex` crate's with ASCII-only
//! classes and case folding. The pattern is read here with Unicode off (and any
//! pattern that switches Unicode on is left without a prefilter), so the language
//! read here holds every string `regex-lite` matches: a prefilter that says "no" is
//! never wrong, only sometimes a "maybe" that the regex then settles.
//!
//! The strings are compared lower-cased, so the pattern is read without its `i`
//! flags: a match of `(?i)Curl` is a match of `Curl` but for the case of some ASCII
//! letters, so lower-cased it holds what the lower-cased strings of `Curl` are. This
//! spares extracting every mix of cases, which is slow and gives shorter strings.

use regex_syntax::ast::{self, Ast};
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::{Hir, HirKind};

/// More strings than this cost more to look for than the regex saves.
const MAX_LITERALS: usize = 32;

/// The prefilter of `pattern`: lower-cased (ASCII) strings one of which the ASCII-
/// lower-cased text of any match contains. `None` when no such set is found.
pub fn literals(pattern: &str) -> Option<Vec<String>> {
    let mut ast = ast::parse::Parser::new().parse(pattern).ok()?;
    if ast::visit(&ast, UnicodeFlag).is_err() {
        return None;
    }
    case_sensitive(&mut ast);
    let hir = regex_syntax::hir::translate::TranslatorBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .translate(pattern, &ast)
        .ok()?;
    let mut candidates = Vec::new();
    parts(&hir, &mut candidates);
    let extractor = {
        let mut e = Extractor::new();
        // Small classes and sets only: enumerating `\s` or a long alternation
        // costs more to extract and to look for than it saves.
        e.kind(ExtractKind::Prefix).limit_class(4).limit_total(64);
        e
    };
    candidates
        .into_iter()
        .filter_map(|part| lowered(&extractor, part))
        .max_by_key(|set| {
            let shortest = set.iter().map(String::len).min().unwrap_or(0);
            (shortest, std::cmp::Reverse(set.len()))
        })
}

/// Drops the `i` flag wherever it is set (see the module's note).
fn case_sensitive(node: &mut Ast) {
    let strip = |flags: &mut ast::Flags| {
        flags
            .items
            .retain(|item| item.kind != ast::FlagsItemKind::Flag(ast::Flag::CaseInsensitive));
    };
    match node {
        Ast::Flags(set) => strip(&mut set.flags),
        Ast::Group(group) => {
            if let ast::GroupKind::NonCapturing(flags) = &mut group.kind {
                strip(flags);
            }
            case_sensitive(&mut group.ast);
        }
        Ast::Repetition(repetition) => case_sensitive(&mut repetition.ast),
        Ast::Alternation(alternation) => alternation.asts.iter_mut().for_each(case_sensitive),
        Ast::Concat(concat) => concat.asts.iter_mut().for_each(case_sensitive),
        Ast::Empty(_)
        | Ast::Literal(_)
        | Ast::Dot(_)
        | Ast::Assertion(_)
        | Ast::ClassUnicode(_)
        | Ast::ClassPerl(_)
        | Ast::ClassBracketed(_) => {}
    }
}

/// Whether the lower-cased `text` holds one of `literals`.
pub fn admits(literals: &[String], lowered_text: &str) -> bool {
    literals.iter().any(|l| lowered_text.contains(l.as_str()))
}

/// `hir` and the parts of it that every match of `hir` contains a match of: the
/// pieces of a concatenation, the inside of a group or of a repetition taken at
/// least once. A prefix of a part's match is inside the whole match, so any of
/// them may give the prefilter; the one with the longest strings is kept.
fn parts<'a>(hir: &'a Hir, out: &mut Vec<&'a Hir>) {
    out.push(hir);
    match hir.kind() {
        HirKind::Concat(subs) => subs.iter().for_each(|s| parts(s, out)),
        HirKind::Capture(c) => parts(&c.sub, out),
        HirKind::Repetition(r) if r.min >= 1 => parts(&r.sub, out),
        _ => {}
    }
}

/// The prefixes of `part`'s matches, lower-cased and deduplicated; `None` unless
/// they are a small finite set of non-empty strings.
fn lowered(extractor: &Extractor, part: &Hir) -> Option<Vec<String>> {
    let seq = extractor.extract(part);
    let found = seq.literals()?;
    if found.is_empty() || found.len() > MAX_LITERALS * 8 {
        return None;
    }
    let mut set = found
        .iter()
        .map(|l| String::from_utf8(l.as_bytes().to_ascii_lowercase()).ok())
        .collect::<Option<Vec<String>>>()?;
    set.sort_unstable();
    set.dedup();
    (set.len() <= MAX_LITERALS && set.iter().all(|l| !l.is_empty())).then_some(set)
}

/// Refuses what this reading (Unicode off) and `regex-lite` take differently: the
/// `u` flag, which `regex-lite` ignores, and a `\x80`..`\xFF` escape, which is one
/// byte here but a character (two bytes of UTF-8) to `regex-lite`.
struct UnicodeFlag;

/// A `\xHH` escape above ASCII.
fn high_byte(lit: &ast::Literal) -> bool {
    lit.byte().is_some_and(|b| !b.is_ascii())
}

impl ast::Visitor for UnicodeFlag {
    type Output = ();
    type Err = ();

    fn finish(self) -> Result<(), ()> {
        Ok(())
    }

    fn visit_class_set_item_pre(&mut self, item: &ast::ClassSetItem) -> Result<(), ()> {
        let high = match item {
            ast::ClassSetItem::Literal(lit) => high_byte(lit),
            ast::ClassSetItem::Range(range) => high_byte(&range.start) || high_byte(&range.end),
            _ => false,
        };
        if high {
            Err(())
        } else {
            Ok(())
        }
    }

    fn visit_pre(&mut self, node: &Ast) -> Result<(), ()> {
        let flags = match node {
            Ast::Literal(lit) if high_byte(lit) => return Err(()),
            Ast::Flags(set) => &set.flags,
            Ast::Group(group) => match &group.kind {
                ast::GroupKind::NonCapturing(flags) => flags,
                _ => return Ok(()),
            },
            _ => return Ok(()),
        };
        match flags.flag_state(ast::Flag::Unicode) {
            Some(_) => Err(()),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    // Writing to a String cannot fail: `let _ = write!(..)` below.
    use super::*;
    use regex_lite::Regex;
    use std::fmt::Write as _;

    /// The regexes of the shipped template before the packs replaced them.
    const OLD_TEMPLATE: &str = include_str!("../testdata/rules-before-packs.toml");
    const DANGEROUS: &str = include_str!("../../tests/data/commands/dangerous.toml");
    const BENIGN: &str = include_str!("../../tests/data/commands/benign.toml");

    const KEYS: &[&str] = &["command", "path", "arguments", "prompt", "tool_regex"];

    fn template_regexes() -> Vec<String> {
        let table: toml::Table = toml::from_str(OLD_TEMPLATE).unwrap();
        let rules = table["rule"].as_array().unwrap();
        let found: Vec<String> = rules
            .iter()
            .flat_map(|r| KEYS.iter().filter_map(|k| r.get(*k)?.as_str()))
            .map(str::to_string)
            .collect();
        assert!(found.len() >= 9, "{found:?}");
        found
    }

    fn corpus_commands() -> Vec<String> {
        let mut out = Vec::new();
        for file in [DANGEROUS, BENIGN] {
            let table: toml::Table = toml::from_str(file).unwrap();
            for case in table["case"].as_array().unwrap() {
                for key in ["command", "tool_input"] {
                    if let Some(text) = case.get(key).and_then(toml::Value::as_str) {
                        out.push(text.to_string());
                    }
                }
            }
        }
        assert!(out.len() > 1000, "{}", out.len());
        out
    }

    /// A small deterministic generator, so a failure is reproducible.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            usize::try_from(self.0 % n as u64).expect("below n, a usize")
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    const WORDS: &[&str] = &[
        "rm", "curl", "git", "push", "main", ".ssh", "id_rsa", "sudo", "kubectl", "delete", "Prod",
        "ß", "é", "K", "/etc/", "--force", "DROP", "table", "s3://", "π",
    ];

    /// A regex made of random pieces, and a text the pieces were drawn to match
    /// (anchors and boundaries may still make it miss).
    fn generated(rng: &mut Rng) -> (String, String) {
        let (mut re, mut text) = (String::new(), String::new());
        if rng.below(4) == 0 {
            re.push_str(rng.pick(&["(?i)", "(?x)", "(?s)", "(?m)", "(?i-u)", "(?u)", "(?U)"]));
        }
        for _ in 0..=rng.below(5) {
            let word = rng.pick(WORDS);
            let escaped = regex_lite::escape(word);
            match rng.below(14) {
                0 => {
                    re.push_str(&escaped);
                    text.push_str(word);
                }
                1 => {
                    let other = rng.pick(WORDS);
                    let _ = write!(re, "({escaped}|{})", regex_lite::escape(other));
                    text.push_str(other);
                }
                2 => {
                    let _ = write!(re, "(?i:{escaped})");
                    text.push_str(&word.to_uppercase());
                }
                3 => {
                    let _ = write!(re, "({escaped})?");
                }
                4 => {
                    let _ = write!(re, "({escaped})+");
                    text.push_str(word);
                    text.push_str(word);
                }
                5 => {
                    re.push_str(r"\s+");
                    text.push(' ');
                }
                6 => {
                    re.push_str(rng.pick(&[r".*", r"\S*", r"[^;&|]*", r"\w*", r"\W", r"\D?"]));
                    text.push_str(rng.pick(&["", "x", " ", ";", "é"]));
                }
                7 => re.push_str(rng.pick(&[r"\b", "^", "$", r"\B", r"\<", r"\>", r"\A", r"\z"])),
                8 => {
                    re.push_str(rng.pick(&["[a-c]", "[[:digit:]]", r"[\d.]", "[^x]", "[éè]"]));
                    text.push_str(rng.pick(&["b", "7", ".", "é"]));
                }
                9 => {
                    let _ = write!(re, "{escaped}{{2,3}}");
                    text.push_str(&word.repeat(2));
                }
                10 => {
                    let _ = write!(re, "({escaped}|)");
                }
                11 => {
                    let _ = write!(re, "(?:{escaped}){{0,2}}");
                    text.push_str(word);
                }
                12 => {
                    re.push_str(rng.pick(&[r"\x41\u{e9}", r"\xC3\xA9", r"[\xC3][\xA9]"]));
                    text.push_str(rng.pick(&["Aé", "Ã©", "é"]));
                }
                _ => {
                    let _ = write!(re, "(?-i:{escaped})");
                    text.push_str(word);
                }
            }
        }
        (re, text)
    }

    /// Ways the text of an event may differ from the one a regex was built for.
    fn variants(text: &str) -> Vec<String> {
        vec![
            text.to_string(),
            text.to_uppercase(),
            text.to_lowercase(),
            format!("echo ok; {text} && true"),
            format!("ſ{}K", text.replace('s', "ſ").replace('k', "K")),
            text.chars().rev().collect(),
        ]
    }

    #[test]
    fn a_regex_never_matches_a_text_its_prefilter_turns_away() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut regexes = template_regexes();
        let mut texts = corpus_commands();
        for _ in 0..400 {
            let (re, text) = generated(&mut rng);
            regexes.push(re);
            texts.extend(variants(&text));
        }
        let (mut with_prefilter, mut turned_away, mut matched) = (0, 0, 0);
        for source in &regexes {
            let Ok(re) = Regex::new(source) else {
                continue;
            };
            let Some(literals) = literals(source) else {
                continue;
            };
            with_prefilter += 1;
            let own: Vec<String> = literals.iter().flat_map(|l| variants(l)).collect();
            for text in texts.iter().chain(&own) {
                let admitted = admits(&literals, &text.to_ascii_lowercase());
                let is_match = re.is_match(text);
                assert!(
                    admitted || !is_match,
                    "prefilter {literals:?} of {source:?} turned away {text:?}, which it matches"
                );
                turned_away += usize::from(!admitted);
                matched += usize::from(is_match);
            }
        }
        // Not vacuous: most regexes get a prefilter, it turns most texts away, and
        // plenty of texts it lets through do match.
        assert!(
            with_prefilter * 10 > regexes.len() * 6,
            "{with_prefilter} of {}",
            regexes.len()
        );
        assert!(turned_away > 100_000, "{turned_away}");
        assert!(matched > 2_000, "{matched}");
    }

    #[test]
    fn the_prefilter_is_the_longest_strings_every_match_holds() {
        let cases: &[(&str, Option<&[&str]>)] = &[
            (r"(^|[;&|]\s*)rm\s+-rf\b", Some(&["-rf"])),
            (r"(?i)\bcurl\b.*\|\s*sh", Some(&["curl"])),
            (r"\b(curl|wget)\b [^;&\n]* \| ", Some(&["curl ", "wget "])),
            (
                r"^/etc/(passwd|shadow)$",
                Some(&["/etc/passwd", "/etc/shadow"]),
            ),
            (r"(?x) \.ssh (/id_\w+)? ", Some(&[".ssh"])),
            (r"DROP\s+TABLE", Some(&["table"])),
            // Read without `i`, so no mix of cases is enumerated.
            (r"(?i)\baws\s+delete\s+(prod|live)-0\b", Some(&["delete"])),
            (r"(?i:Drop)\s+(?-i:TABLE)", Some(&["table"])),
            // Nothing every match must hold.
            (r".*", None),
            (r"\w+", None),
            (r"(rm|)x?", None),
            (r"", None),
            // Read differently here than by regex-lite: classes under `u`, and a
            // `\x` escape above ASCII (the character Ã here, not the byte C3).
            (r"(?u)rm\W", None),
            (r"\xC3\xA9", None),
            (r"[\xC3-\xC4]\xA9", None),
            // Not a regex.
            (r"(", None),
        ];
        for (source, expected) in cases {
            let expected = expected.map(|e| e.iter().map(ToString::to_string).collect::<Vec<_>>());
            assert_eq!(literals(source), expected, "{source}");
        }
        let (mut with, mut all) = (0, 0);
        for source in template_regexes() {
            all += 1;
            with += usize::from(literals(&source).is_some());
        }
        assert!(
            with * 2 >= all,
            "{with} of {all} template regexes have a prefilter"
        );
    }
}
