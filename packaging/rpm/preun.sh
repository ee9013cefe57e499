#!/bin/sh
# %preun scriptlet of the codex-guard RPM (cargo-generate-rpm: pre_uninstall_script).
# $1 is the number of codex-guard packages left once this one is gone: 0 on an erase,
# 1 or more when an upgrade replaces this version (then nothing is done: %post of the new
# version has already refreshed the managed install).
#
# Erase ($1 = 0) with a machine-wide (managed) install (/etc/codex-guard/managed-receipt.json):
# `codex-guard uninstall --managed --silent --json` runs while the binary still exists.
# RPM has no purge: erasing the package removes the managed install with it. The admin's
# fleet file (/etc/codex-guard/fleet.toml) is not ours and stays. A failed uninstall is
# reported; the scriptlet still exits 0 (a failing %preun would stop the erase).
#
# For tests every path is below ${CODEX_GUARD_PKG_ROOT:-} and every codex-guard call
# gets --system-root "${CODEX_GUARD_PKG_ROOT:-/}".
set -e

root=${CODEX_GUARD_PKG_ROOT:-}
system_root=${CODEX_GUARD_PKG_ROOT:-/}
codex_guard=$root/usr/bin/codex-guard
receipt=$root/etc/codex-guard/managed-receipt.json

say() { printf 'codex-guard: %s\n' "$*" >&2; }

if [ "${1:-0}" = 0 ] && [ -f "$receipt" ]; then
  if [ -x "$codex_guard" ]; then
    rc=0
    "$codex_guard" uninstall --managed --silent --json --system-root "$system_root" || rc=$?
    if [ "$rc" -eq 0 ]; then
      say "machine-wide install removed"
    else
      say "uninstall --managed failed with exit code $rc: the machine-wide install may still be active; install codex-guard again and run 'codex-guard uninstall --managed'"
    fi
  else
    say "$codex_guard is missing: the machine-wide install ($receipt) stays; install codex-guard again and run 'codex-guard uninstall --managed'"
  fi
fi
exit 0
