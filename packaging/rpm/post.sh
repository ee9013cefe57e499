#!/bin/sh
# %post scriptlet of the codex-guard RPM (cargo-generate-rpm: post_install_script).
# $1 is the number of codex-guard packages installed once this one is: 1 on a first
# install, 2 or more on an upgrade.
#
# Same decision as the Debian postinst, never failing the transaction:
#   - a managed install exists (/etc/codex-guard/managed-receipt.json; the usual case on
#     an upgrade, $1 >= 2): `setup --managed --keep-settings` copies the new
#     codex-guard-hook to the managed prefix with the install's own recorded settings;
#   - else a fleet file exists (/etc/codex-guard/fleet.toml; the usual case on a first
#     install, $1 = 1): `setup --managed --config /etc/codex-guard/fleet.toml`;
#   - else nothing is set up; one line says how to.
# A failed setup is reported with its exit code and `codex-guard doctor --managed` as the
# next step; the scriptlet still exits 0.
#
# rpm --root runs scriptlets chrooted, so the paths are the real ones; for tests every
# path is below ${CODEX_GUARD_PKG_ROOT:-} and every codex-guard call gets
# --system-root "${CODEX_GUARD_PKG_ROOT:-/}".
set -e

root=${CODEX_GUARD_PKG_ROOT:-}
system_root=${CODEX_GUARD_PKG_ROOT:-/}
codex_guard=$root/usr/bin/codex-guard
receipt=$root/etc/codex-guard/managed-receipt.json
fleet=$root/etc/codex-guard/fleet.toml

say() { printf 'codex-guard: %s\n' "$*" >&2; }

doctor_hint="codex-guard doctor --managed"
[ -z "$root" ] || doctor_hint="$doctor_hint --system-root $system_root"

# setup_managed WHAT ARG...: `codex-guard setup --managed --silent --json ARG...`; reports
# its outcome and always returns 0. setup's JSON answer goes to stdout as it is.
setup_managed() {
  what=$1
  shift
  if [ ! -x "$codex_guard" ]; then
    say "$codex_guard is missing: the machine-wide install was not $what; reinstall the package"
    return 0
  fi
  rc=0
  "$codex_guard" setup --managed --silent --json "$@" --system-root "$system_root" || rc=$?
  case $rc in
    0) say "machine-wide install $what" ;;
    1) say "machine-wide install $what but degraded (see the warnings above); next step: $doctor_hint" ;;
    *) say "setup --managed failed with exit code $rc: the package is installed, the machine-wide install was not $what; next step: $doctor_hint" ;;
  esac
  return 0
}

count=${1:-1}
if [ -f "$receipt" ]; then
  setup_managed "refreshed" --keep-settings
elif [ -f "$fleet" ]; then
  setup_managed "set up from /etc/codex-guard/fleet.toml" --config "$fleet"
elif [ "$count" = 1 ]; then
  say "installed; to protect Codex run 'codex-guard setup' (your own Codex home) or 'sudo codex-guard setup --managed --config /etc/codex-guard/fleet.toml' (every user)"
fi
exit 0
