
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'codex-guard' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'codex-guard'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'codex-guard' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('setup', 'setup', [CompletionResultType]::ParameterValue, 'Install or update codex-guard''s hooks in a Codex home')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Check that the guard is really on: hooks enabled, registered, trusted by Codex, the runtime intact, the service reachable')
            [CompletionResult]::new('uninstall', 'uninstall', [CompletionResultType]::ParameterValue, 'Remove exactly what setup added, restoring every value it replaced')
            [CompletionResult]::new('backup', 'backup', [CompletionResultType]::ParameterValue, 'Snapshot Codex''s config.toml, hooks.json and codex-guard''s files to a tar.gz')
            [CompletionResult]::new('restore', 'restore', [CompletionResultType]::ParameterValue, 'Put back the files of a backup, refusing to overwrite a file changed since it')
            [CompletionResult]::new('events', 'events', [CompletionResultType]::ParameterValue, 'Sum up what the hooks decided, from codex-guard''s event log')
            [CompletionResult]::new('self-update', 'self-update', [CompletionResultType]::ParameterValue, 'Replace codex-guard and its hook runtime with a newer verified release')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'codex-guard;setup' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'Akto data-ingestion URL (https; http only for loopback addresses or with --allow-http)')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Akto API token, sent as the Authorization header (stored in a file only you can read)')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'Read the Akto API token from FILE')
            [CompletionResult]::new('--mode', '--mode', [CompletionResultType]::ParameterName, 'How Akto attributes traffic')
            [CompletionResult]::new('--timeout-ms', '--timeout-ms', [CompletionResultType]::ParameterName, 'Deadline for one hook decision, in milliseconds (default 5000)')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Also trust the CA certificates in this PEM file for the service (a private CA or a TLS-inspecting proxy); the OS trust store is always used')
            [CompletionResult]::new('--rules', '--rules', [CompletionResultType]::ParameterName, 'Install this rules file instead of the default rules (with --managed: as the machine''s admin rules, which users cannot loosen)')
            [CompletionResult]::new('--device-id', '--device-id', [CompletionResultType]::ParameterName, 'The Atlas device id Akto attributes this machine''s traffic to (default: the id this machine already has, from codex-guard or from Akto''s own hooks, else a new one)')
            [CompletionResult]::new('--updates', '--updates', [CompletionResultType]::ParameterName, 'Who keeps codex-guard up to date on this machine')
            [CompletionResult]::new('--update-url', '--update-url', [CompletionResultType]::ParameterName, 'Where `self-update` finds releases: the base URL of a GitHub-compatible releases API, such as an enterprise mirror (default: GitHub)')
            [CompletionResult]::new('--update-public-key', '--update-public-key', [CompletionResultType]::ParameterName, 'Ed25519 public key (64 hex digits) that must have signed each release''s SHA256SUMS (SHA256SUMS.sig) before `self-update` installs it')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Read settings from a fleet TOML file (keys: url, local_only, token, token_file, mode, blocking, fail_closed, timeout_ms, ca_cert, allow_http, rules, device_id, updates, update_url, update_public_key)')
            [CompletionResult]::new('--managed-only', '--managed-only', [CompletionResultType]::ParameterName, 'With --managed: also set allow_managed_hooks_only, so Codex ignores every user''s and project''s own hooks (`--managed-only=false` takes it back; without the flag the current install''s choice stays)')
            [CompletionResult]::new('--prefix', '--prefix', [CompletionResultType]::ParameterName, 'Where --managed installs the hook runtime')
            [CompletionResult]::new('--runtime', '--runtime', [CompletionResultType]::ParameterName, 'The codex-guard-hook executable to install (default: the one beside codex-guard)')
            [CompletionResult]::new('--codex-bin', '--codex-bin', [CompletionResultType]::ParameterName, 'The Codex CLI asked, after the change, whether it loads the configuration and runs codex-guard''s hooks (default: `codex` on PATH; with none, nothing is asked)')
            [CompletionResult]::new('--codex-home', '--codex-home', [CompletionResultType]::ParameterName, 'Codex home (default: $CODEX_HOME, else ~/.codex)')
            [CompletionResult]::new('--system-root', '--system-root', [CompletionResultType]::ParameterName, 'Root for machine-wide paths such as /etc/codex (for tests and images)')
            [CompletionResult]::new('--parent-settings', '--parent-settings', [CompletionResultType]::ParameterName, 'The settings a parent run (`--all-users`) hands each child, as a fleet file that stands for the parent''s flags')
            [CompletionResult]::new('--local-only', '--local-only', [CompletionResultType]::ParameterName, 'Install without an Akto service: local rules and a local log of every event')
            [CompletionResult]::new('--observe', '--observe', [CompletionResultType]::ParameterName, 'Only record events; never block')
            [CompletionResult]::new('--blocking', '--blocking', [CompletionResultType]::ParameterName, 'Block what the guardrails reject (the default)')
            [CompletionResult]::new('--fail-closed', '--fail-closed', [CompletionResultType]::ParameterName, 'When the service cannot answer, block prompts and tool calls instead of letting them through')
            [CompletionResult]::new('--fail-open', '--fail-open', [CompletionResultType]::ParameterName, 'When the service cannot answer, let prompts and tool calls through (the default)')
            [CompletionResult]::new('--allow-http', '--allow-http', [CompletionResultType]::ParameterName, 'Accept a plain-http URL to a non-loopback host (the token then travels unencrypted)')
            [CompletionResult]::new('--managed', '--managed', [CompletionResultType]::ParameterName, 'Machine-wide install (root): the runtime under --prefix, Codex''s managed hooks in /etc/codex/requirements.toml (no trust records needed, users cannot turn them off), the runtime''s config in /etc/codex-guard/')
            [CompletionResult]::new('--all-users', '--all-users', [CompletionResultType]::ParameterName, 'Per-user install for every real user of the machine (root): uid >= 1000 with a home directory and a ~/.codex, each user''s files owned by that user')
            [CompletionResult]::new('--include-users-without-codex', '--include-users-without-codex', [CompletionResultType]::ParameterName, 'With --all-users: also users who have never run Codex (no ~/.codex yet)')
            [CompletionResult]::new('--silent', '--silent', [CompletionResultType]::ParameterName, 'Never prompt and never draw progress; fail with exit 2 if something required is missing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the diff of every file setup would change, and change nothing')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object on stdout describing the result')
            [CompletionResult]::new('--keep-settings', '--keep-settings', [CompletionResultType]::ParameterName, 'Take settings only from the flags and the current install, ignoring the environment and the fleet file: refreshes an install as it is (after an upgrade, or from `doctor --fix` and `self-update`)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'codex-guard;doctor' {
            [CompletionResult]::new('--codex-home', '--codex-home', [CompletionResultType]::ParameterName, 'Codex home (default: $CODEX_HOME, else ~/.codex)')
            [CompletionResult]::new('--system-root', '--system-root', [CompletionResultType]::ParameterName, 'Root for machine-wide paths such as /etc/codex (for tests and images)')
            [CompletionResult]::new('--codex-bin', '--codex-bin', [CompletionResultType]::ParameterName, 'The Codex CLI to check and to ask for its view of the hooks (default: `codex` on PATH)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object (schema_version, status, checks, fixed) instead of one line per check')
            [CompletionResult]::new('--fix', '--fix', [CompletionResultType]::ParameterName, 'Repair what needs no decision: re-run setup with this install''s own settings and make our files private again; then check again and say what changed')
            [CompletionResult]::new('--managed', '--managed', [CompletionResultType]::ParameterName, 'Check the machine-wide (managed) install. Without it, doctor checks it anyway when it is what protects this user (no per-user install)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'codex-guard;uninstall' {
            [CompletionResult]::new('--codex-home', '--codex-home', [CompletionResultType]::ParameterName, 'Codex home (default: $CODEX_HOME, else ~/.codex)')
            [CompletionResult]::new('--system-root', '--system-root', [CompletionResultType]::ParameterName, 'Root for machine-wide paths such as /etc/codex (for tests and images)')
            [CompletionResult]::new('--backup-dir', '--backup-dir', [CompletionResultType]::ParameterName, 'Where the safety backup taken before removal goes (default: a private directory of yours, ~/.local/state/codex-guard/uninstall-backups; with --managed, /var/lib/codex-guard/uninstall-backups). In a directory other accounts can write, it goes into a new private directory made inside it')
            [CompletionResult]::new('--keep-logs', '--keep-logs', [CompletionResultType]::ParameterName, 'Keep codex-guard''s logs (and any undelivered events)')
            [CompletionResult]::new('--silent', '--silent', [CompletionResultType]::ParameterName, 'Never prompt; fail with exit 2 if something required is missing')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the diff of every file uninstall would change, and change nothing')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object on stdout describing the result')
            [CompletionResult]::new('--managed', '--managed', [CompletionResultType]::ParameterName, 'Remove the machine-wide (managed) install: our hooks from /etc/codex/requirements.toml (every other entry stays), the runtime and /etc/codex-guard/. Needs root')
            [CompletionResult]::new('--all-users', '--all-users', [CompletionResultType]::ParameterName, 'Uninstall for every user of the machine who has codex-guard installed (root)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'codex-guard;backup' {
            [CompletionResult]::new('--codex-home', '--codex-home', [CompletionResultType]::ParameterName, 'Codex home (default: $CODEX_HOME, else ~/.codex)')
            [CompletionResult]::new('--system-root', '--system-root', [CompletionResultType]::ParameterName, 'Root for machine-wide paths such as /etc/codex (for tests and images)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Write the archive here instead of $CODEX_HOME/codex-guard/backups/')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Write the archive here instead of $CODEX_HOME/codex-guard/backups/')
            [CompletionResult]::new('--list', '--list', [CompletionResultType]::ParameterName, 'List the backups in $CODEX_HOME/codex-guard/backups/, newest first')
            [CompletionResult]::new('--include-logs', '--include-logs', [CompletionResultType]::ParameterName, 'Include codex-guard''s logs and undelivered events')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON on stdout')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'codex-guard;restore' {
            [CompletionResult]::new('--codex-home', '--codex-home', [CompletionResultType]::ParameterName, 'Codex home (default: $CODEX_HOME, else ~/.codex)')
            [CompletionResult]::new('--system-root', '--system-root', [CompletionResultType]::ParameterName, 'Root for machine-wide paths such as /etc/codex (for tests and images)')
            [CompletionResult]::new('--latest', '--latest', [CompletionResultType]::ParameterName, 'Restore the newest backup in $CODEX_HOME/codex-guard/backups/ taken by setup, uninstall or `backup` (restore''s own safety copies are skipped: name one to undo a restore)')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Overwrite files that changed since the backup was taken')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the diff from the current files to the backup''s (also for files changed since the backup, which restore refuses without --force), and change nothing')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object on stdout describing the result')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'codex-guard;events' {
            [CompletionResult]::new('--codex-home', '--codex-home', [CompletionResultType]::ParameterName, 'Codex home (default: $CODEX_HOME, else ~/.codex)')
            [CompletionResult]::new('--system-root', '--system-root', [CompletionResultType]::ParameterName, 'Root for machine-wide paths such as /etc/codex (for tests and images)')
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Only events since WHEN: a duration back from now (30m, 24h, 7d), an RFC 3339 time (2025-11-20T08:00:00Z; UTC without an offset) or a date (2025-11-20, UTC)')
            [CompletionResult]::new('--top', '--top', [CompletionResultType]::ParameterName, 'How many of the most blocked commands (and most frequent errors) to list')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object (schema_version, counts, top_blocked, spool) instead of tables')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'codex-guard;self-update' {
            [CompletionResult]::new('--codex-home', '--codex-home', [CompletionResultType]::ParameterName, 'Codex home (default: $CODEX_HOME, else ~/.codex)')
            [CompletionResult]::new('--system-root', '--system-root', [CompletionResultType]::ParameterName, 'Root for machine-wide paths such as /etc/codex (for tests and images)')
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'Install exactly this release (may be older than this one)')
            [CompletionResult]::new('--source', '--source', [CompletionResultType]::ParameterName, 'Base URL of a GitHub-compatible releases API to use this time (default: the config''s update_url, else https://api.github.com)')
            [CompletionResult]::new('--codex-bin', '--codex-bin', [CompletionResultType]::ParameterName, 'The Codex CLI doctor asks about the hooks after the update (default: `codex` on PATH)')
            [CompletionResult]::new('--check', '--check', [CompletionResultType]::ParameterName, 'Only say whether a newer release exists; change nothing')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object on stdout describing the result')
            [CompletionResult]::new('--allow-unsigned', '--allow-unsigned', [CompletionResultType]::ParameterName, 'Install a release that carries no SHA256SUMS.sig although a release key is known: nothing then proves who made it (a warning says so). A signature that is there must still verify')
            [CompletionResult]::new('--allow-http', '--allow-http', [CompletionResultType]::ParameterName, 'Also follow plain-http addresses (the release list, its next pages, downloads, redirects), to a loopback mirror only (127.0.0.1, ::1, localhost)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'codex-guard;help' {
            [CompletionResult]::new('setup', 'setup', [CompletionResultType]::ParameterValue, 'Install or update codex-guard''s hooks in a Codex home')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Check that the guard is really on: hooks enabled, registered, trusted by Codex, the runtime intact, the service reachable')
            [CompletionResult]::new('uninstall', 'uninstall', [CompletionResultType]::ParameterValue, 'Remove exactly what setup added, restoring every value it replaced')
            [CompletionResult]::new('backup', 'backup', [CompletionResultType]::ParameterValue, 'Snapshot Codex''s config.toml, hooks.json and codex-guard''s files to a tar.gz')
            [CompletionResult]::new('restore', 'restore', [CompletionResultType]::ParameterValue, 'Put back the files of a backup, refusing to overwrite a file changed since it')
            [CompletionResult]::new('events', 'events', [CompletionResultType]::ParameterValue, 'Sum up what the hooks decided, from codex-guard''s event log')
            [CompletionResult]::new('self-update', 'self-update', [CompletionResultType]::ParameterValue, 'Replace codex-guard and its hook runtime with a newer verified release')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'codex-guard;help;setup' {
            break
        }
        'codex-guard;help;doctor' {
            break
        }
        'codex-guard;help;uninstall' {
            break
        }
        'codex-guard;help;backup' {
            break
        }
        'codex-guard;help;restore' {
            break
        }
        'codex-guard;help;events' {
            break
        }
        'codex-guard;help;self-update' {
            break
        }
        'codex-guard;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
