//! Errors that carry the documented exit code and a hint for the person reading them.
//!
//! Exit codes: 0 ok, 1 a check failed or the install is degraded, 2 bad input or
//! usage, 3 needs more privilege.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    Ok = 0,
    Degraded = 1,
    BadInput = 2,
    NeedsRoot = 3,
}

/// An error a user can act on: what is wrong (naming the file), and what to do.
#[derive(Debug)]
pub struct Failure {
    pub code: ExitCode,
    pub message: String,
    pub hint: Option<String>,
}

impl Failure {
    pub fn bad_input(message: impl Into<String>) -> Failure {
        Failure {
            code: ExitCode::BadInput,
            message: message.into(),
            hint: None,
        }
    }

    pub fn needs_root(message: impl Into<String>) -> Failure {
        Failure {
            code: ExitCode::NeedsRoot,
            message: message.into(),
            hint: Some(
                "run it as root (sudo), or with --system-root DIR on a tree you can write".into(),
            ),
        }
    }

    /// Something failed after the input was accepted (a download, a check): exit 1.
    pub fn degraded(message: impl Into<String>) -> Failure {
        Failure {
            code: ExitCode::Degraded,
            message: message.into(),
            hint: None,
        }
    }

    /// A policy forbids the operation (exit 3, like missing privilege: the person
    /// running it cannot go further on their own).
    pub fn refused(message: impl Into<String>) -> Failure {
        Failure {
            code: ExitCode::NeedsRoot,
            message: message.into(),
            hint: None,
        }
    }

    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Failure {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// The exit code for any error: a `Failure` says its own, anything else is 1.
pub fn exit_code_of(error: &anyhow::Error) -> ExitCode {
    error
        .chain()
        .find_map(|e| e.downcast_ref::<Failure>())
        .map_or(ExitCode::Degraded, |f| f.code)
}

/// The hint of the first `Failure` in the chain.
pub fn hint_of(error: &anyhow::Error) -> Option<&str> {
    error
        .chain()
        .find_map(|e| e.downcast_ref::<Failure>())
        .and_then(|f| f.hint.as_deref())
}
