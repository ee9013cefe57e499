#!/bin/bash
# Jamf Pro extension attribute "codex-guard status": prints
# <result>healthy|degraded|unprotected|not installed</result>.
# Runs `codex-guard doctor --json` machine-wide (--managed) when the managed runtime is
# installed, else for the logged-in user. Written for macOS's bash 3.2; needs no jq.
set -uo pipefail

# Site settings; the environment overrides them for a test run.
codex_guard=${CODEX_GUARD_BIN:-/usr/local/bin/codex-guard}
managed_runtime=${CODEX_GUARD_SYSTEM_ROOT:-}/usr/local/lib/codex-guard
# The Codex CLI doctor asks for its view of the hooks; empty: codex on PATH.
codex_bin=${CODEX_BIN:-}
# Extension attributes run with a bare PATH; doctor looks for the Codex CLI on it.
export PATH="/opt/homebrew/bin:/usr/local/bin:${PATH:-/usr/bin:/bin:/usr/sbin:/sbin}"

result() {
  printf '<result>%s</result>\n' "$1"
  exit 0
}

[ -x "$codex_guard" ] || result "not installed"

args=(doctor --json)
[ -n "$codex_bin" ] && args+=(--codex-bin "$codex_bin")
if [ -d "$managed_runtime" ]; then
  out=$("$codex_guard" "${args[@]}" --managed 2>/dev/null)
else
  user=$(stat -f %Su /dev/console 2>/dev/null || true)
  case $user in
    "" | root | loginwindow) result "not installed" ;;
  esac
  out=$(sudo -u "$user" -H "$codex_guard" "${args[@]}" 2>/dev/null)
fi

# The verdict is the only "status" whose value is one of these three (checks say
# pass, warn, fail or skip), so a plain match is enough.
status=$(printf '%s' "$out" | grep -Eo '"status" *: *"(healthy|degraded|unprotected)"' | head -n 1 |
  sed -E 's/.*"(healthy|degraded|unprotected)"$/\1/')
result "${status:-unprotected}"
