//! A program's arguments as its own option parser reads them: combined short
//! flags (`-rf`), a short option's value attached or next (`-oFILE`, `-o FILE`),
//! GNU long options abbreviated to any unique prefix (`--rec`), `--name=value`,
//! options after operands (GNU permutes), and `--` ending the options.

use crate::shell::Value;

/// How one program reads its options.
pub struct Spec {
    /// Short options that take a value.
    pub short_valued: &'static str,
    /// Long option names, each with whether it takes a value.
    pub long: &'static [(&'static str, bool)],
    /// Options stop at the first operand (`git`, `sudo` before the subcommand).
    pub stop_at_operand: bool,
}

/// The arguments, sorted into options and operands.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Short options as `-x`, long ones as `--name` (the full name, abbreviations
    /// resolved; an ambiguous abbreviation stands for every option it could mean).
    pub options: Vec<(String, Option<Value>)>,
    pub operands: Vec<Vec<Value>>,
    /// A word that may be an option but cannot be read (`$FLAGS`, `-$X`).
    pub unknown: bool,
}

impl Parsed {
    pub fn has(&self, names: &[&str]) -> bool {
        self.options
            .iter()
            .any(|(o, _)| names.contains(&o.as_str()))
    }

    pub fn value(&self, names: &[&str]) -> Option<&Value> {
        self.options
            .iter()
            .filter(|(o, _)| names.contains(&o.as_str()))
            .find_map(|(_, v)| v.as_ref())
    }

    /// Operands as single literal strings, where known.
    pub fn literal_operands(&self) -> Vec<Option<String>> {
        crate::shell::literals(&self.operands)
    }
}

pub fn parse(args: &[Vec<Value>], spec: &Spec) -> Parsed {
    let mut out = Parsed::default();
    let mut i = 0;
    let mut options_done = false;
    while i < args.len() {
        let word = &args[i];
        i += 1;
        let literal = if word.len() == 1 {
            word[0].literal()
        } else {
            None
        };
        let Some(text) = literal else {
            // A word with holes: an option when it starts like one, else an operand
            // that might also be an option (`$FLAGS`).
            let starts_dash = word.iter().any(
                |v| matches!(v.0.first(), Some(crate::shell::Part::Text(t)) if t.starts_with('-')),
            );
            let unknown_start = word
                .iter()
                .any(|v| v.0.first() == Some(&crate::shell::Part::Any));
            if !options_done && (starts_dash || unknown_start) {
                out.unknown = true;
            }
            if !starts_dash || options_done {
                out.operands.push(word.clone());
                if spec.stop_at_operand {
                    options_done = true;
                }
            }
            continue;
        };
        if options_done || text == "-" || !text.starts_with('-') {
            out.operands.push(word.clone());
            if spec.stop_at_operand {
                options_done = true;
            }
            continue;
        }
        if text == "--" {
            options_done = true;
            continue;
        }
        if let Some(long) = text.strip_prefix("--") {
            let (name, attached) = match long.split_once('=') {
                Some((n, v)) => (
                    n,
                    Some(Value(vec![crate::shell::Part::Text(v.to_string())])),
                ),
                None => (long, None),
            };
            let exact = spec.long.iter().find(|(n, _)| *n == name);
            let candidates: Vec<&(&str, bool)> = match exact {
                Some(e) => vec![e],
                None => spec
                    .long
                    .iter()
                    .filter(|(n, _)| n.starts_with(name))
                    .collect(),
            };
            if candidates.is_empty() {
                out.options.push((format!("--{name}"), attached));
                continue;
            }
            let takes_value = candidates.iter().any(|(_, v)| *v);
            let value = match attached {
                Some(v) => Some(v),
                None if takes_value && candidates.len() == 1 => {
                    let v = args.get(i).and_then(|w| w.first()).cloned();
                    i += 1;
                    v
                }
                None => None,
            };
            for (n, _) in candidates {
                out.options.push((format!("--{n}"), value.clone()));
            }
            continue;
        }
        // A cluster of short options.
        let chars: Vec<char> = text[1..].chars().collect();
        for (k, c) in chars.iter().enumerate() {
            if spec.short_valued.contains(*c) {
                let rest: String = chars[k + 1..].iter().collect();
                let value = if rest.is_empty() {
                    let v = args.get(i).and_then(|w| w.first()).cloned();
                    i += 1;
                    v
                } else {
                    Some(Value(vec![crate::shell::Part::Text(rest)]))
                };
                out.options.push((format!("-{c}"), value));
                break;
            }
            out.options.push((format!("-{c}"), None));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(args: &[&str]) -> Vec<Vec<Value>> {
        args.iter()
            .map(|a| vec![Value(vec![crate::shell::Part::Text(a.to_string())])])
            .collect()
    }

    /// `rm` as the filesystem pack reads it.
    use crate::packs::filesystem::RM;

    #[test]
    fn clusters_abbreviations_and_options_after_operands_are_read_as_the_program_does() {
        const GIT_PUSH: Spec = Spec {
            short_valued: "o",
            long: &[
                ("force", false),
                ("force-with-lease", false),
                ("force-if-includes", false),
            ],
            stop_at_operand: false,
        };
        let p = parse(&words(&["/", "--rec", "-vf", "--", "-x"]), &RM);
        assert!(p.has(&["--recursive"]) && p.has(&["-f"]) && p.has(&["-v"]));
        assert_eq!(p.literal_operands(), [Some("/".into()), Some("-x".into())]);
        // Ambiguous: every meaning counts. Unique: that one.
        assert!(parse(&words(&["--forc"]), &GIT_PUSH).has(&["--force"]));
        assert!(parse(&words(&["--force-with"]), &GIT_PUSH).has(&["--force-with-lease"]));
        let p = parse(&words(&["-ofoo", "-o", "bar", "origin"]), &GIT_PUSH);
        assert_eq!(p.options.len(), 2);
        assert_eq!(p.literal_operands(), [Some("origin".into())]);
    }
}
