#!/usr/bin/env bash
# Measures the installer's heavy paths with release builds and prints one table row
# each: wall time and CPU time (user + system; steadier on a busy machine), the median
# of --runs, and peak RSS, the highest of the runs:
#   events       over a generated 1,000,000-line audit log (human, --json, --since)
#   setup        on a generated 10 MB Codex config.toml, the first run and an unchanged rerun
#   uninstall    of a small home (setup, then uninstall with its safety backup)
# Everything runs in a temporary directory, removed on exit, with HOME, CODEX_HOME,
# XDG_STATE_HOME and CODEX_GUARD_SYSTEM_ROOT pointing into it: the real home and /etc
# are never read or written.
#
# Usage: scripts/bench-installer.sh [--runs N] [--bin-dir DIR] [--lines N] [--only LIST]
#   --only LIST    a comma-separated subset of events,setup,uninstall
#   --bin-dir DIR  use the codex-guard and codex-guard-hook in DIR (another build, for
#                  a before/after comparison) instead of building this tree
set -euo pipefail
cd "$(dirname "$0")/.."

runs=3
bin_dir=""
lines=1000000
only="events,setup,uninstall"
while [ $# -gt 0 ]; do
    case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --lines) lines="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument $1" >&2; echo "hint: see $0 --help" >&2; exit 2 ;;
    esac
done

if [ ! -x /usr/bin/time ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get install -y -qq time >/dev/null
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo apt-get install -y -qq time >/dev/null
    else
        echo "error: /usr/bin/time (GNU time) is needed to measure peak memory" >&2
        echo "hint: apt-get install time" >&2
        exit 1
    fi
fi

if [ -z "$bin_dir" ]; then
    cargo build --release -j"${CARGO_BUILD_JOBS:-2}" -p codex-guard -p codex-guard-hook >&2
    bin_dir="$(cargo metadata --format-version 1 --no-deps |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release"
fi
guard="$bin_dir/codex-guard"
hook="$bin_dir/codex-guard-hook"
for exe in "$guard" "$hook"; do
    if [ ! -x "$exe" ]; then
        echo "error: $exe is not an executable" >&2
        echo "hint: pass --bin-dir with a directory holding codex-guard and codex-guard-hook" >&2
        exit 2
    fi
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Sets `cmd` to codex-guard with the environment cleared to the temporary home $1.
in_home() {
    local home="$work/$1"
    mkdir -p "$home/user" "$home/codex" "$home/system"
    cmd=(env -i PATH="$PATH" HOME="$home/user" XDG_STATE_HOME="$home/user/.local/state"
        CODEX_HOME="$home/codex" CODEX_GUARD_SYSTEM_ROOT="$home/system" "$guard")
}

# One measured run: prints "<wall ms> <peak RSS KiB> <CPU ms>"; the command's output
# is discarded, its failure stops the benchmark.
measure() {
    local start end
    start=$(date +%s%N)
    if ! /usr/bin/time -f '%M %U %S' -o "$work/usage" "$@" >"$work/out" 2>"$work/err"; then
        echo "error: $* failed:" >&2
        cat "$work/err" >&2
        exit 1
    fi
    end=$(date +%s%N)
    tail -n 1 "$work/usage" | awk -v ms=$(((end - start) / 1000000)) \
        '{ printf "%d %d %d\n", ms, $1, ($2 + $3) * 1000 }'
}

# Prints a table row from lines of measure's output: the median wall and CPU times,
# the highest peak RSS.
row() {
    local name="$1"
    awk -v name="$name" '
        function median(a, n,    i, j, t) {
            for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
                t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
            }
            return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        { wall[NR] = $1; cpu[NR] = $3; if ($2 > rss) rss = $2 }
        END { printf "%-36s %8.0f %8.0f %9.1f\n", name, median(wall, NR), median(cpu, NR), rss / 1024 }'
}

# A runtime audit log of $lines events, one second apart, as the hook writes them.
gen_events() {
    awk -v n="$lines" 'BEGIN {
        split("PreToolUse PostToolUse UserPromptSubmit PreToolUse PreToolUse Stop", ev, " ")
        split("allow allow allow allow allow allow allow allow observe block", dec, " ")
        srand(7)
        for (i = 0; i < n; i++) {
            ts = 1763596800000 + i * 1000
            e = ev[i % 6 + 1]; d = dec[int(rand() * 10) + 1]
            tool = (e == "UserPromptSubmit" || e == "Stop") ? "null" : "\"Bash\""
            src = (d == "block") ? ((i % 3) ? "\"rule:rm-root\"" : "\"akto\"") : "null"
            line = sprintf("{\"ts\":%d,\"id\":\"evt-%08d\",\"event\":\"%s\",\"tool\":%s,\"mode\":\"blocking\",\"decision\":\"%s\",\"reason\":null,\"source\":%s", ts, i, e, tool, d, src)
            if (d == "block" && src ~ /rule/) line = line ",\"rule\":\"rm-root\""
            if (d == "block" && src ~ /akto/) line = line ",\"policy\":\"Secrets\""
            if (tool != "null") line = line sprintf(",\"command\":\"git -C /home/dev/src/project-%d status --porcelain\"", i % 500)
            line = line sprintf(",\"delivered\":%d,\"spooled\":%d,\"elapsed_ms\":%.6f", i % 2, (i + 1) % 2, 0.5 + rand() * 40)
            if (i % 97 == 0) line = line ",\"errors\":[\"guardrails: timed out after 5000 ms\"]"
            print line "}"
        }
    }'
}

# A Codex config.toml of about 10 MB: settings, MCP servers and many trusted projects.
gen_config() {
    awk 'BEGIN {
        print "# Codex configuration"
        print "model = \"gpt-5-codex\""
        print "approval_policy = \"on-request\""
        print "sandbox_mode = \"workspace-write\""
        print ""
        for (i = 0; i < 200; i++) {
            printf "[mcp_servers.server_%d]\ncommand = \"npx\"\nargs = [\"-y\", \"@example/mcp-server-%d\"]\n", i, i
            printf "env = { \"API_URL\" = \"https://mcp-%d.example.test\" }\n\n", i
        }
        for (i = 0; size < 10 * 1024 * 1024; i++) {
            s = sprintf("# added by the IDE on day %d\n[projects.\"/home/dev/src/workspace-%06d/service\"]\ntrust_level = \"trusted\"\n\n", i % 365, i)
            printf "%s", s
            size += length(s)
        }
    }'
}

# Whether the benchmark $1 was asked for.
want() {
    case ",$only," in *",$1,"*) return 0 ;; *) return 1 ;; esac
}

printf '%-36s %8s %8s %9s\n' "benchmark (median of $runs runs)" "wall ms" "CPU ms" "peak MiB"

if want events; then
mkdir -p "$work/events/codex/codex-guard/logs"
gen_events >"$work/events/codex/codex-guard/logs/events.jsonl"
half=$(awk -v n="$lines" 'BEGIN { printf "%d", 1763596800 + n / 2 }')
since="$(date -u -d "@$half" +%Y-%m-%dT%H:%M:%SZ)"
for args in "events" "events --json" "events --since $since"; do
    in_home events
    # shellcheck disable=SC2086 # the arguments are meant to be split
    for _ in $(seq "$runs"); do measure "${cmd[@]}" $args; done |
        row "${args/$since/half} ($((lines / 1000))k lines)"
done
fi

setup_args=(setup --runtime "$hook" --local-only --silent)

# setup on a 10 MB config.toml: the first run, then one with nothing to change
if want setup; then
gen_config >"$work/config.toml"
config_mib=$(awk -v b="$(wc -c <"$work/config.toml")" 'BEGIN { printf "%.1f", b / 1048576 }')
for _ in $(seq "$runs"); do
    rm -rf "$work/setup"
    mkdir -p "$work/setup/codex"
    cp "$work/config.toml" "$work/setup/codex/config.toml"
    in_home setup
    measure "${cmd[@]}" "${setup_args[@]}" >>"$work/setup-first"
    measure "${cmd[@]}" "${setup_args[@]}" >>"$work/setup-rerun"
done
row "setup, first run (${config_mib} MB config)" <"$work/setup-first"
row "setup, unchanged rerun" <"$work/setup-rerun"
fi

# uninstall of a small home
if want uninstall; then
for _ in $(seq "$runs"); do
    rm -rf "$work/small"
    in_home small
    "${cmd[@]}" "${setup_args[@]}" >/dev/null 2>&1
    measure "${cmd[@]}" uninstall --silent --backup-dir "$work/small/backups"
done | row "uninstall (small home)"
fi
