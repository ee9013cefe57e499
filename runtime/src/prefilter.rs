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

use regex_syntax::ast::{self, Ast};
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::{Hir, HirKind};

/// More strings than this cost more to look for than the regex saves.
const MAX_LITERALS: usize = 32;

/// The prefilter of `pattern`: lower-cased (ASCII) strings one of which the ASCII-
/// lower-cased text of any match contains. `None` when no such set is found.
pub fn literals(pattern: &str) -> Option<Vec<String>> {
    let ast = ast::parse::Parser::new().parse(pattern).ok()?;
    if ast::visit(&ast, UnicodeFlag).is_err() {
        return None;
    }
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
        e.kind(ExtractKind::Prefix);
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

/// Refuses a pattern that names the `u` flag: `regex-lite` ignores it, and with it
/// the pattern read here would no longer be the one `regex-lite` runs.
struct UnicodeFlag;

impl ast::Visitor for UnicodeFlag {
    type Output = ();
    type Err = ();

    fn finish(self) -> Result<(), ()> {
        Ok(())
    }

    fn visit_pre(&mut self, node: &Ast) -> Result<(), ()> {
        let flags = match node {
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
