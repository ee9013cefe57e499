# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_codex_guard_global_optspecs
    string join \n h/help V/version
end

function __fish_codex_guard_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_codex_guard_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_codex_guard_using_subcommand
    set -l cmd (__fish_codex_guard_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c codex-guard -n "__fish_codex_guard_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c codex-guard -n "__fish_codex_guard_needs_command" -s V -l version -d 'Print version'
complete -c codex-guard -n "__fish_codex_guard_needs_command" -f -a "setup" -d 'Install or update codex-guard\'s hooks in a Codex home'
complete -c codex-guard -n "__fish_codex_guard_needs_command" -f -a "doctor" -d 'Check that the guard is really on: hooks enabled, registered, trusted by Codex, the runtime intact, the service reachable'
complete -c codex-guard -n "__fish_codex_guard_needs_command" -f -a "uninstall" -d 'Remove exactly what setup added, restoring every value it replaced'
complete -c codex-guard -n "__fish_codex_guard_needs_command" -f -a "backup" -d 'Snapshot Codex\'s config.toml, hooks.json and codex-guard\'s files to a tar.gz'
complete -c codex-guard -n "__fish_codex_guard_needs_command" -f -a "restore" -d 'Put back the files of a backup, refusing to overwrite a file changed since it'
complete -c codex-guard -n "__fish_codex_guard_needs_command" -f -a "events" -d 'Sum up what the hooks decided, from codex-guard\'s event log'
complete -c codex-guard -n "__fish_codex_guard_needs_command" -f -a "self-update" -d 'Replace codex-guard and its hook runtime with a newer verified release'
complete -c codex-guard -n "__fish_codex_guard_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -l url -d 'Akto data-ingestion URL (https; http only for loopback addresses or with --allow-http)' -r
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -l token -d 'Akto API token, sent as the Authorization header (stored in a file only you can read)' -r
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -l token-file -d 'Read the Akto API token from FILE' -r -F
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -l mode -d 'How Akto attributes traffic' -r -f -a "argus\t'Traffic attributed to the Codex API host'
atlas\t'Traffic attributed to this device (Akto Atlas)'"
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -l timeout-ms -d 'Deadline for one hook decision, in milliseconds (default 5000)' -r
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -l ca-cert -d 'Also trust the CA certificates in this PEM file for the service (a private CA or a TLS-inspecting proxy); the OS trust store is always used' -r -F
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -l rules -d 'Install this rules file instead of the default rules (with --managed: as the machine\'s admin rules, which users cannot loosen)' -r -F
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -l device-id -d 'The Atlas device id Akto attributes this machine\'s traffic to (default: the id this machine already has, from codex-guard or from Akto\'s own hooks, else a new one)' -r
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -l updates -d 'Who keeps codex-guard up to date on this machine' -r -f -a "self\t'`codex-guard self-update` keeps this machine current'
mdm\t'A fleet tool (MDM, Ansible, packages) owns updates; self-update refuses'"
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -l update-url -d 'Where `self-update` finds releases: the base URL of a GitHub-compatible releases API, such as an enterprise mirror (default: GitHub)' -r
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -l update-public-key -d 'Ed25519 public key (64 hex digits) that must have signed each release\'s SHA256SUMS (SHA256SUMS.sig) before `self-update` installs it' -r
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -l config -d 'Read settings from a fleet TOML file (keys: url, local_only, token, token_file, mode, blocking, fail_closed, timeout_ms, ca_cert, allow_http, rules, device_id, updates, update_url, update_public_key)' -r -F
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -l managed-only -d 'With --managed: also set allow_managed_hooks_only, so Codex ignores every user\'s and project\'s own hooks (`--managed-only=false` takes it back; without the flag the current install\'s choice stays)' -r -f -a "true\t''
false\t''"
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -l prefix -d 'Where --managed installs the hook runtime' -r -F
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -l runtime -d 'The codex-guard-hook executable to install (default: the one beside codex-guard)' -r -F
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -l codex-bin -d 'The Codex CLI asked, after the change, whether it loads the configuration and runs codex-guard\'s hooks (default: `codex` on PATH; with none, nothing is asked)' -r -F
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -l codex-home -d 'Codex home (default: $CODEX_HOME, else ~/.codex)' -r -F
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -l system-root -d 'Root for machine-wide paths such as /etc/codex (for tests and images)' -r -F
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -l parent-settings -d 'The settings a parent run (`--all-users`) hands each child, as a fleet file that stands for the parent\'s flags' -r -F
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -l local-only -d 'Install without an Akto service: local rules and a local log of every event'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -l observe -d 'Only record events; never block'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -l blocking -d 'Block what the guardrails reject (the default)'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -l fail-closed -d 'When the service cannot answer, block prompts and tool calls instead of letting them through'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -l fail-open -d 'When the service cannot answer, let prompts and tool calls through (the default)'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -l allow-http -d 'Accept a plain-http URL to a non-loopback host (the token then travels unencrypted)'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -l managed -d 'Machine-wide install (root): the runtime under --prefix, Codex\'s managed hooks in /etc/codex/requirements.toml (no trust records needed, users cannot turn them off), the runtime\'s config in /etc/codex-guard/'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -l all-users -d 'Per-user install for every real user of the machine (root): uid >= 1000 with a home directory and a ~/.codex, each user\'s files owned by that user'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -l include-users-without-codex -d 'With --all-users: also users who have never run Codex (no ~/.codex yet)'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -l silent -d 'Never prompt and never draw progress; fail with exit 2 if something required is missing'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -s y -l yes -d 'Do not ask for confirmation'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -l dry-run -d 'Print the diff of every file setup would change, and change nothing'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -l json -d 'Print one JSON object on stdout describing the result'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -l keep-settings -d 'Take settings only from the flags and the current install, ignoring the environment and the fleet file: refreshes an install as it is (after an upgrade, or from `doctor --fix` and `self-update`)'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand setup" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand doctor" -l codex-home -d 'Codex home (default: $CODEX_HOME, else ~/.codex)' -r -F
complete -c codex-guard -n "__fish_codex_guard_using_subcommand doctor" -l system-root -d 'Root for machine-wide paths such as /etc/codex (for tests and images)' -r -F
complete -c codex-guard -n "__fish_codex_guard_using_subcommand doctor" -l codex-bin -d 'The Codex CLI to check and to ask for its view of the hooks (default: `codex` on PATH)' -r -F
complete -c codex-guard -n "__fish_codex_guard_using_subcommand doctor" -l json -d 'Print one JSON object (schema_version, status, checks, fixed) instead of one line per check'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand doctor" -l fix -d 'Repair what needs no decision: re-run setup with this install\'s own settings and make our files private again; then check again and say what changed'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand doctor" -l managed -d 'Check the machine-wide (managed) install. Without it, doctor checks it anyway when it is what protects this user (no per-user install)'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand doctor" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand uninstall" -l codex-home -d 'Codex home (default: $CODEX_HOME, else ~/.codex)' -r -F
complete -c codex-guard -n "__fish_codex_guard_using_subcommand uninstall" -l system-root -d 'Root for machine-wide paths such as /etc/codex (for tests and images)' -r -F
complete -c codex-guard -n "__fish_codex_guard_using_subcommand uninstall" -l backup-dir -d 'Where the safety backup taken before removal goes (default: a private directory of yours, ~/.local/state/codex-guard/uninstall-backups; with --managed, /var/lib/codex-guard/uninstall-backups). In a directory other accounts can write, it goes into a new private directory made inside it' -r -F
complete -c codex-guard -n "__fish_codex_guard_using_subcommand uninstall" -l keep-logs -d 'Keep codex-guard\'s logs (and any undelivered events)'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand uninstall" -l silent -d 'Never prompt; fail with exit 2 if something required is missing'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand uninstall" -s y -l yes -d 'Do not ask for confirmation'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand uninstall" -l dry-run -d 'Print the diff of every file uninstall would change, and change nothing'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand uninstall" -l json -d 'Print one JSON object on stdout describing the result'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand uninstall" -l managed -d 'Remove the machine-wide (managed) install: our hooks from /etc/codex/requirements.toml (every other entry stays), the runtime and /etc/codex-guard/. Needs root'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand uninstall" -l all-users -d 'Uninstall for every user of the machine who has codex-guard installed (root)'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand uninstall" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand backup" -l codex-home -d 'Codex home (default: $CODEX_HOME, else ~/.codex)' -r -F
complete -c codex-guard -n "__fish_codex_guard_using_subcommand backup" -l system-root -d 'Root for machine-wide paths such as /etc/codex (for tests and images)' -r -F
complete -c codex-guard -n "__fish_codex_guard_using_subcommand backup" -s o -l output -d 'Write the archive here instead of $CODEX_HOME/codex-guard/backups/' -r -F
complete -c codex-guard -n "__fish_codex_guard_using_subcommand backup" -l list -d 'List the backups in $CODEX_HOME/codex-guard/backups/, newest first'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand backup" -l include-logs -d 'Include codex-guard\'s logs and undelivered events'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand backup" -l json -d 'Print JSON on stdout'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand backup" -s h -l help -d 'Print help'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand restore" -l codex-home -d 'Codex home (default: $CODEX_HOME, else ~/.codex)' -r -F
complete -c codex-guard -n "__fish_codex_guard_using_subcommand restore" -l system-root -d 'Root for machine-wide paths such as /etc/codex (for tests and images)' -r -F
complete -c codex-guard -n "__fish_codex_guard_using_subcommand restore" -l latest -d 'Restore the newest backup in $CODEX_HOME/codex-guard/backups/ taken by setup, uninstall or `backup` (restore\'s own safety copies are skipped: name one to undo a restore)'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand restore" -l force -d 'Overwrite files that changed since the backup was taken'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand restore" -s y -l yes -d 'Do not ask for confirmation'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand restore" -l dry-run -d 'Print the diff from the current files to the backup\'s (also for files changed since the backup, which restore refuses without --force), and change nothing'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand restore" -l json -d 'Print one JSON object on stdout describing the result'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand restore" -s h -l help -d 'Print help'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand events" -l codex-home -d 'Codex home (default: $CODEX_HOME, else ~/.codex)' -r -F
complete -c codex-guard -n "__fish_codex_guard_using_subcommand events" -l system-root -d 'Root for machine-wide paths such as /etc/codex (for tests and images)' -r -F
complete -c codex-guard -n "__fish_codex_guard_using_subcommand events" -l since -d 'Only events since WHEN: a duration back from now (30m, 24h, 7d), an RFC 3339 time (2025-11-20T08:00:00Z; UTC without an offset) or a date (2025-11-20, UTC)' -r
complete -c codex-guard -n "__fish_codex_guard_using_subcommand events" -l top -d 'How many of the most blocked commands (and most frequent errors) to list' -r
complete -c codex-guard -n "__fish_codex_guard_using_subcommand events" -l json -d 'Print one JSON object (schema_version, counts, top_blocked, spool) instead of tables'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand events" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand self-update" -l codex-home -d 'Codex home (default: $CODEX_HOME, else ~/.codex)' -r -F
complete -c codex-guard -n "__fish_codex_guard_using_subcommand self-update" -l system-root -d 'Root for machine-wide paths such as /etc/codex (for tests and images)' -r -F
complete -c codex-guard -n "__fish_codex_guard_using_subcommand self-update" -l to -d 'Install exactly this release (may be older than this one)' -r
complete -c codex-guard -n "__fish_codex_guard_using_subcommand self-update" -l source -d 'Base URL of a GitHub-compatible releases API to use this time (default: the config\'s update_url, else https://api.github.com)' -r
complete -c codex-guard -n "__fish_codex_guard_using_subcommand self-update" -l codex-bin -d 'The Codex CLI doctor asks about the hooks after the update (default: `codex` on PATH)' -r -F
complete -c codex-guard -n "__fish_codex_guard_using_subcommand self-update" -l check -d 'Only say whether a newer release exists; change nothing'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand self-update" -l json -d 'Print one JSON object on stdout describing the result'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand self-update" -l allow-unsigned -d 'Install a release that carries no SHA256SUMS.sig although a release key is known: nothing then proves who made it (a warning says so). A signature that is there must still verify'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand self-update" -l allow-http -d 'Also follow plain-http addresses (the release list, its next pages, downloads, redirects), to a loopback mirror only (127.0.0.1, ::1, localhost)'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand self-update" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand help; and not __fish_seen_subcommand_from setup doctor uninstall backup restore events self-update help" -f -a "setup" -d 'Install or update codex-guard\'s hooks in a Codex home'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand help; and not __fish_seen_subcommand_from setup doctor uninstall backup restore events self-update help" -f -a "doctor" -d 'Check that the guard is really on: hooks enabled, registered, trusted by Codex, the runtime intact, the service reachable'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand help; and not __fish_seen_subcommand_from setup doctor uninstall backup restore events self-update help" -f -a "uninstall" -d 'Remove exactly what setup added, restoring every value it replaced'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand help; and not __fish_seen_subcommand_from setup doctor uninstall backup restore events self-update help" -f -a "backup" -d 'Snapshot Codex\'s config.toml, hooks.json and codex-guard\'s files to a tar.gz'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand help; and not __fish_seen_subcommand_from setup doctor uninstall backup restore events self-update help" -f -a "restore" -d 'Put back the files of a backup, refusing to overwrite a file changed since it'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand help; and not __fish_seen_subcommand_from setup doctor uninstall backup restore events self-update help" -f -a "events" -d 'Sum up what the hooks decided, from codex-guard\'s event log'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand help; and not __fish_seen_subcommand_from setup doctor uninstall backup restore events self-update help" -f -a "self-update" -d 'Replace codex-guard and its hook runtime with a newer verified release'
complete -c codex-guard -n "__fish_codex_guard_using_subcommand help; and not __fish_seen_subcommand_from setup doctor uninstall backup restore events self-update help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
