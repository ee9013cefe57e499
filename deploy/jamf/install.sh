#!/bin/bash
# Jamf Pro policy script: run `codex-guard setup --silent --json` on this Mac.
# Runs as root after the codex-guard package (or deploy/install.sh) put the binaries
# in /usr/local/bin. Written for macOS's bash 3.2.
#
# Jamf passes $1 mount point, $2 computer name, $3 user name (the logged-in user
# for login and Self Service policies). Policy parameters:
#   $4  Akto data-ingestion URL; empty: the fleet file's, else --local-only
#   $5  Akto API token; handed to setup in a 0600 file, never on a command line
#   $6  mode: argus | atlas (empty: leave as configured)
#   $7  more setup arguments, split on spaces, e.g. "--observe --fail-closed"
#   $8  scope: managed (default: machine-wide hooks, for every user of Codex)
#       or user (the logged-in user's own Codex home)
# A fleet file at /etc/codex-guard/fleet.toml, if present, supplies what these leave empty.
#
# The JSON result goes to stdout (the policy log) and is appended to
# /Library/Logs/codex-guard/jamf-setup.log. Exit code: setup's (0 installed,
# 1 installed but degraded, 2 bad input, 3 needs root), or 4 when codex-guard
# is missing or there is no logged-in user for scope user.
set -uo pipefail

# Site settings; the environment overrides them for a test run.
codex_guard=${CODEX_GUARD_BIN:-/usr/local/bin/codex-guard}
fleet_config=${CODEX_GUARD_FLEET_CONFIG:-${CODEX_GUARD_SYSTEM_ROOT:-}/etc/codex-guard/fleet.toml}
log_dir=${CODEX_GUARD_LOG_DIR:-/Library/Logs/codex-guard}

url=${4:-}
token=${5:-}
mode=${6:-}
extra=${7:-}
scope=${8:-managed}

say() { printf 'codex-guard jamf: %s\n' "$*" >&2; }

if [ ! -x "$codex_guard" ]; then
  say "$codex_guard is missing: deploy the codex-guard package first"
  exit 4
fi
if [ "$(id -u)" -ne 0 ]; then
  say "must run as root (as Jamf policies do)"
  exit 3
fi

args=(setup --silent --json)
case $scope in
  managed) args+=(--managed) ;;
  user) ;;
  *)
    say "parameter 8 (scope) must be managed or user, not '$scope'"
    exit 2
    ;;
esac
if [ -n "$url" ]; then
  args+=(--url "$url")
elif [ ! -f "$fleet_config" ]; then
  args+=(--local-only)
fi
[ -n "$mode" ] && args+=(--mode "$mode")
if [ -n "$extra" ]; then
  read -r -a extra_args <<<"$extra"
  args+=("${extra_args[@]}")
fi

run_as=()
if [ "$scope" = user ]; then
  user=${3:-}
  if [ -z "$user" ] || [ "$user" = root ]; then
    # Jamf leaves $3 empty outside login policies: ask who owns the console.
    user=$(stat -f %Su /dev/console 2>/dev/null || true)
  fi
  if [ -z "$user" ] || [ "$user" = root ] || [ "$user" = loginwindow ]; then
    say "no user is logged in: nothing to protect for scope user"
    exit 4
  fi
  run_as=(sudo -u "$user" -H)
fi

umask 077
tmp_base=${TMPDIR:-/tmp}
# root's own TMPDIR (under /var/folders) is closed to the user setup runs as.
[ "$scope" = user ] && tmp_base=/tmp
workdir=$(mktemp -d "$tmp_base/codex-guard-jamf.XXXXXX") || exit 4
trap 'rm -rf "$workdir"' EXIT
if [ -f "$fleet_config" ]; then
  if [ "$scope" = user ]; then
    # The fleet file is root's (0600): the user's setup reads a private copy.
    cp "$fleet_config" "$workdir/fleet.toml"
    args+=(--config "$workdir/fleet.toml")
  else
    args+=(--config "$fleet_config")
  fi
fi
if [ -n "$token" ]; then
  # setup stores its own 0600 copy; this one goes with the work directory.
  printf '%s' "$token" >"$workdir/token"
  args+=(--token-file "$workdir/token")
fi
[ "$scope" = user ] && chown -R "$user" "$workdir"

out=$(${run_as[@]+"${run_as[@]}"} "$codex_guard" "${args[@]}")
rc=$?

mkdir -p "$log_dir"
printf '%s scope=%s exit=%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$scope" "$rc" "$out" >>"$log_dir/jamf-setup.log"
printf '%s\n' "$out"
case $rc in
  0) say "installed" ;;
  1) say "installed but degraded: see warnings in the JSON above" ;;
  *) say "setup failed with exit code $rc" ;;
esac
exit "$rc"
