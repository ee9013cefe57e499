//! Command-line interface. The `///` comments are the `--help` text.
// These comments are the help text people read in a terminal and the man pages, not
// rustdoc: a key or variable is written as people type it, without backticks.
#![allow(clippy::doc_markdown)]

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// codex-guard: guardrails for the OpenAI Codex CLI.
///
/// Installs hooks that check every prompt and tool call against local rules and an
/// Akto guardrail service, and keeps Codex trusting them.
///
/// Exit codes: 0 ok, 1 installed but degraded, 2 bad input, 3 needs root.
#[derive(Debug, Parser)]
#[command(name = "codex-guard", version = codex_guard_common::VERSION, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Install or update codex-guard's hooks in a Codex home.
    ///
    /// Enables hooks in config.toml, merges our handlers into hooks.json (your own
    /// hooks stay), records Codex's trust for them, installs the hook runtime and its
    /// config. Safe to run again: an identical run changes nothing.
    Setup(Box<SetupArgs>),

    /// Check that the guard is really on: hooks enabled, registered, trusted by Codex,
    /// the runtime intact, the service reachable.
    ///
    /// Exit codes: 0 healthy, 1 degraded or unprotected, 2 bad input.
    Doctor(DoctorArgs),

    /// Remove exactly what setup added, restoring every value it replaced.
    ///
    /// Other tools' hooks and your own edits stay. A backup is written first.
    Uninstall(UninstallArgs),

    /// Snapshot Codex's config.toml, hooks.json and codex-guard's files to a tar.gz.
    Backup(BackupArgs),

    /// Put back the files of a backup, refusing to overwrite a file changed since it.
    Restore(RestoreArgs),

    /// Sum up what the hooks decided, from codex-guard's event log.
    ///
    /// Counts per decision, event, tool and source, the most blocked commands, errors,
    /// hook latency, and the records still waiting for the service.
    Events(EventsArgs),

    /// Replace codex-guard and its hook runtime with a newer verified release.
    ///
    /// Releases come from GitHub, or from the mirror in the config's update_url, over
    /// https only. The release's SHA256SUMS must be signed (SHA256SUMS.sig) by the
    /// release key built into codex-guard, or by the config's update_public_key, and
    /// the archive must match it before anything downloaded runs or anything changes;
    /// then both programs are replaced, every install on this machine is refreshed with
    /// its own settings (the hooks keep their command and their trust) and doctor runs.
    /// Never downgrades unless --to says so. Refuses (exit 3) when the config says
    /// updates = "mdm" or a system package installed codex-guard.
    ///
    /// Exit codes: 0 updated or up to date, 1 failed or degraded (nothing changed if
    /// the download or its check failed), 2 bad input, 3 refused.
    SelfUpdate(SelfUpdateArgs),
}

#[derive(Debug, Args)]
pub struct SelfUpdateArgs {
    #[command(flatten)]
    pub home: HomeArgs,

    /// Only say whether a newer release exists; change nothing.
    #[arg(long)]
    pub check: bool,

    /// Install exactly this release (may be older than this one).
    #[arg(long, value_name = "VERSION")]
    pub to: Option<String>,

    /// Base URL of a GitHub-compatible releases API to use this time (default: the
    /// config's update_url, else https://api.github.com).
    #[arg(long, value_name = "URL")]
    pub source: Option<String>,

    /// Print one JSON object on stdout describing the result.
    #[arg(long)]
    pub json: bool,

    /// The Codex CLI doctor asks about the hooks after the update (default: `codex` on PATH).
    #[arg(long, value_name = "PATH")]
    pub codex_bin: Option<PathBuf>,

    /// Install a release that carries no SHA256SUMS.sig although a release key is known:
    /// nothing then proves who made it (a warning says so). A signature that is there
    /// must still verify.
    #[arg(long)]
    pub allow_unsigned: bool,

    /// Also follow plain-http addresses (the release list, its next pages, downloads,
    /// redirects), to a loopback mirror only (127.0.0.1, ::1, localhost).
    #[arg(long)]
    pub allow_http: bool,
}

/// Where the Codex home and the machine-wide files are.
#[derive(Debug, Clone, Args)]
pub struct HomeArgs {
    /// Codex home (default: $CODEX_HOME, else ~/.codex).
    #[arg(long, value_name = "DIR")]
    pub codex_home: Option<PathBuf>,

    /// Root for machine-wide paths such as /etc/codex (for tests and images).
    #[arg(
        long,
        env = "CODEX_GUARD_SYSTEM_ROOT",
        value_name = "DIR",
        default_value = "/"
    )]
    pub system_root: PathBuf,
}

/// As with no flag: the default Codex home and the real system root.
impl Default for HomeArgs {
    fn default() -> HomeArgs {
        HomeArgs {
            codex_home: None,
            system_root: PathBuf::from("/"),
        }
    }
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub home: HomeArgs,

    /// Print one JSON object (schema_version, status, checks, fixed) instead of one line per check.
    #[arg(long)]
    pub json: bool,

    /// Repair what needs no decision: re-run setup with this install's own settings and
    /// make our files private again; then check again and say what changed.
    #[arg(long)]
    pub fix: bool,

    /// The Codex CLI to check and to ask for its view of the hooks (default: `codex` on PATH).
    #[arg(long, value_name = "PATH")]
    pub codex_bin: Option<PathBuf>,

    /// Check the machine-wide (managed) install. Without it, doctor checks it anyway
    /// when it is what protects this user (no per-user install).
    #[arg(long)]
    pub managed: bool,
}

#[derive(Debug, Args)]
pub struct UninstallArgs {
    #[command(flatten)]
    pub home: HomeArgs,

    /// Keep codex-guard's logs (and any undelivered events).
    #[arg(long)]
    pub keep_logs: bool,

    /// Never prompt; fail with exit 2 if something required is missing.
    #[arg(long)]
    pub silent: bool,

    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Print the diff of every file uninstall would change, and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Print one JSON object on stdout describing the result.
    #[arg(long)]
    pub json: bool,

    /// Where the safety backup taken before removal goes (default: a private directory
    /// of yours, ~/.local/state/codex-guard/uninstall-backups; with --managed,
    /// /var/lib/codex-guard/uninstall-backups). In a directory other accounts can write,
    /// it goes into a new private directory made inside it.
    #[arg(long, value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,

    /// Remove the machine-wide (managed) install: our hooks from
    /// /etc/codex/requirements.toml (every other entry stays), the runtime and
    /// /etc/codex-guard/. Needs root.
    #[arg(long, conflicts_with = "all_users")]
    pub managed: bool,

    /// Uninstall for every user of the machine who has codex-guard installed (root).
    #[arg(long)]
    pub all_users: bool,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub home: HomeArgs,

    /// Write the archive here instead of $CODEX_HOME/codex-guard/backups/.
    #[arg(long, short = 'o', value_name = "FILE", conflicts_with = "list")]
    pub output: Option<PathBuf>,

    /// List the backups in $CODEX_HOME/codex-guard/backups/, newest first.
    #[arg(long)]
    pub list: bool,

    /// Include codex-guard's logs and undelivered events.
    #[arg(long, conflicts_with = "list")]
    pub include_logs: bool,

    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub home: HomeArgs,

    /// Only events since WHEN: a duration back from now (30m, 24h, 7d), an RFC 3339
    /// time (2025-11-20T08:00:00Z; UTC without an offset) or a date (2025-11-20, UTC).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,

    /// How many of the most blocked commands (and most frequent errors) to list.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,

    /// Print one JSON object (schema_version, counts, top_blocked, spool) instead of tables.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub home: HomeArgs,

    /// The backup archive to restore.
    #[arg(
        value_name = "FILE",
        required_unless_present = "latest",
        conflicts_with = "latest"
    )]
    pub file: Option<PathBuf>,

    /// Restore the newest backup in $CODEX_HOME/codex-guard/backups/ taken by setup,
    /// uninstall or `backup` (restore's own safety copies are skipped: name one to undo a restore).
    #[arg(long)]
    pub latest: bool,

    /// Overwrite files that changed since the backup was taken.
    #[arg(long)]
    pub force: bool,

    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Print the diff from the current files to the backup's (also for files changed
    /// since the backup, which restore refuses without --force), and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Print one JSON object on stdout describing the result.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Traffic attributed to the Codex API host.
    Argus,
    /// Traffic attributed to this device (Akto Atlas).
    Atlas,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UpdatesArg {
    /// `codex-guard self-update` keeps this machine current.
    #[value(name = "self")]
    SelfUpdate,
    /// A fleet tool (MDM, Ansible, packages) owns updates; self-update refuses.
    Mdm,
}

/// Settings come from flags, then `CODEX_GUARD_*` environment variables (URL and
/// token also from Akto's `AKTO_DATA_INGESTION_URL` / `AKTO_API_TOKEN`), then the
/// fleet file (`--config`), then the current install, then defaults.
// `Default` is setup with no flag at all (doctor --fix starts from it).
#[derive(Debug, Default, Args)]
#[command(after_long_help = SETUP_ENVIRONMENT)]
pub struct SetupArgs {
    /// Akto data-ingestion URL (https; http only for loopback addresses or with --allow-http).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// Install without an Akto service: local rules and a local log of every event.
    #[arg(long, conflicts_with = "url")]
    pub local_only: bool,

    /// Akto API token, sent as the Authorization header (stored in a file only you can read).
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,

    /// Read the Akto API token from FILE.
    #[arg(long, conflicts_with = "token", value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// How Akto attributes traffic.
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,

    /// Only record events; never block.
    #[arg(long, conflicts_with = "blocking")]
    pub observe: bool,

    /// Block what the guardrails reject (the default).
    #[arg(long)]
    pub blocking: bool,

    /// When the service cannot answer, block prompts and tool calls instead of letting them through.
    #[arg(long, conflicts_with = "fail_open")]
    pub fail_closed: bool,

    /// When the service cannot answer, let prompts and tool calls through (the default).
    #[arg(long)]
    pub fail_open: bool,

    /// Deadline for one hook decision, in milliseconds (default 5000).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub timeout_ms: Option<u64>,

    /// Accept a plain-http URL to a non-loopback host (the token then travels unencrypted).
    #[arg(long)]
    pub allow_http: bool,

    /// Also trust the CA certificates in this PEM file for the service (a private CA or a
    /// TLS-inspecting proxy); the OS trust store is always used.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// Install this rules file instead of the default rules (with --managed: as the
    /// machine's admin rules, which users cannot loosen).
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,

    /// The Atlas device id Akto attributes this machine's traffic to (default: the id
    /// this machine already has, from codex-guard or from Akto's own hooks, else a new one).
    #[arg(long, value_name = "ID")]
    pub device_id: Option<String>,

    /// Who keeps codex-guard up to date on this machine.
    #[arg(long, value_enum)]
    pub updates: Option<UpdatesArg>,

    /// Where `self-update` finds releases: the base URL of a GitHub-compatible releases
    /// API, such as an enterprise mirror (default: GitHub).
    #[arg(long, value_name = "URL")]
    pub update_url: Option<String>,

    /// Ed25519 public key (64 hex digits) that must have signed each release's
    /// SHA256SUMS (SHA256SUMS.sig) before `self-update` installs it.
    #[arg(long, value_name = "HEX")]
    pub update_public_key: Option<String>,

    /// Read settings from a fleet TOML file (keys: url, local_only, token, token_file,
    /// mode, blocking, fail_closed, timeout_ms, ca_cert, allow_http, rules, device_id,
    /// updates, update_url, update_public_key).
    #[arg(long, value_name = "FILE", env = "CODEX_GUARD_FLEET_CONFIG")]
    pub config: Option<PathBuf>,

    /// Machine-wide install (root): the runtime under --prefix, Codex's managed hooks in
    /// /etc/codex/requirements.toml (no trust records needed, users cannot turn them
    /// off), the runtime's config in /etc/codex-guard/.
    #[arg(long, conflicts_with = "all_users")]
    pub managed: bool,

    /// With --managed: also set allow_managed_hooks_only, so Codex ignores every user's
    /// and project's own hooks (`--managed-only=false` takes it back; without the flag
    /// the current install's choice stays).
    #[arg(long, requires = "managed", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub managed_only: Option<bool>,

    /// Where --managed installs the hook runtime.
    #[arg(long, value_name = "DIR", requires = "managed")]
    pub prefix: Option<PathBuf>,

    /// Per-user install for every real user of the machine (root): uid >= 1000 with a
    /// home directory and a ~/.codex, each user's files owned by that user.
    #[arg(long)]
    pub all_users: bool,

    /// With --all-users: also users who have never run Codex (no ~/.codex yet).
    #[arg(long, requires = "all_users")]
    pub include_users_without_codex: bool,

    /// Never prompt and never draw progress; fail with exit 2 if something required is missing.
    #[arg(long)]
    pub silent: bool,

    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Print the diff of every file setup would change, and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Print one JSON object on stdout describing the result.
    #[arg(long)]
    pub json: bool,

    /// The codex-guard-hook executable to install (default: the one beside codex-guard).
    #[arg(long, value_name = "PATH")]
    pub runtime: Option<PathBuf>,

    /// The Codex CLI asked, after the change, whether it loads the configuration and
    /// runs codex-guard's hooks (default: `codex` on PATH; with none, nothing is asked).
    #[arg(long, value_name = "PATH")]
    pub codex_bin: Option<PathBuf>,

    #[command(flatten)]
    pub home: HomeArgs,

    /// Take settings only from the flags and the current install, ignoring the
    /// environment and the fleet file: refreshes an install as it is (after an upgrade,
    /// or from `doctor --fix` and `self-update`).
    #[arg(long = "keep-settings")]
    pub install_settings_only: bool,

    /// The settings a parent run (`--all-users`) hands each child, as a fleet file
    /// that stands for the parent's flags.
    #[arg(long, value_name = "FILE", hide = true)]
    pub parent_settings: Option<PathBuf>,
}

const SETUP_ENVIRONMENT: &str = "\
Environment (below flags, above the fleet file):
  CODEX_GUARD_URL, CODEX_GUARD_LOCAL_ONLY, CODEX_GUARD_TOKEN, CODEX_GUARD_TOKEN_FILE,
  CODEX_GUARD_MODE, CODEX_GUARD_BLOCKING, CODEX_GUARD_FAIL_CLOSED, CODEX_GUARD_TIMEOUT_MS,
  CODEX_GUARD_CA_CERT, CODEX_GUARD_ALLOW_HTTP, CODEX_GUARD_RULES, CODEX_GUARD_DEVICE_ID,
  CODEX_GUARD_UPDATES, CODEX_GUARD_UPDATE_URL, CODEX_GUARD_UPDATE_PUBLIC_KEY,
  CODEX_GUARD_FLEET_CONFIG; then Akto's AKTO_DATA_INGESTION_URL, AKTO_API_TOKEN and DEVICE_ID.

Exit codes: 0 installed (changed or unchanged), 1 installed but degraded, 2 bad input,
3 needs root.";
