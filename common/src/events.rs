//! The Codex hook events codex-guard registers, with the names Codex uses for
//! them in `hooks.json` and in its trust keys.

/// A hook event codex-guard handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    SessionStart,
    UserPromptSubmit,
    PreToolUse,
    PermissionRequest,
    PostToolUse,
    Stop,
}

impl Event {
    /// Every event setup registers, in the order Codex fires them.
    pub const ALL: [Event; 6] = [
        Event::SessionStart,
        Event::UserPromptSubmit,
        Event::PreToolUse,
        Event::PermissionRequest,
        Event::PostToolUse,
        Event::Stop,
    ];

    /// The name in `hooks.json` and in `hook_event_name`.
    pub fn name(self) -> &'static str {
        match self {
            Event::SessionStart => "SessionStart",
            Event::UserPromptSubmit => "UserPromptSubmit",
            Event::PreToolUse => "PreToolUse",
            Event::PermissionRequest => "PermissionRequest",
            Event::PostToolUse => "PostToolUse",
            Event::Stop => "Stop",
        }
    }

    /// The `snake_case` name Codex puts in trust keys and hashes.
    pub fn snake_name(self) -> &'static str {
        match self {
            Event::SessionStart => "session_start",
            Event::UserPromptSubmit => "user_prompt_submit",
            Event::PreToolUse => "pre_tool_use",
            Event::PermissionRequest => "permission_request",
            Event::PostToolUse => "post_tool_use",
            Event::Stop => "stop",
        }
    }

    /// Codex ignores the matcher of these events (it is left out of the trust hash).
    pub fn drops_matcher(self) -> bool {
        matches!(self, Event::UserPromptSubmit | Event::Stop)
    }

    pub fn from_name(name: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.name() == name)
    }
}
