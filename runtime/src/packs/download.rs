//! Download and run: code fetched from the network (or decoded from a blob) that
//! is run without anyone seeing it: `curl … | sh`, `source <(curl …)`,
//! `eval "$(wget -O- …)"`, a file downloaded and then run in the same command
//! line, `base64 -d | sh`, interpreter code that fetches and evaluates.

use super::{code, Finding, Pack, Subject};

pub fn check(s: &Subject) -> Option<Finding> {
    let analysis = s.analysis?;
    if let Some(run) = analysis.fetched_runs.first() {
        return Some(Finding::new(
            Pack::Download,
            "run-downloaded-code",
            format!("running code nobody has read: {run}"),
        ));
    }
    for script in &analysis.scripts {
        if code::fetches_and_runs(script) {
            return Some(Finding::new(
                Pack::Download,
                "run-downloaded-code",
                format!(
                    "{} code that downloads code and runs it",
                    script.interpreter
                ),
            ));
        }
    }
    None
}
