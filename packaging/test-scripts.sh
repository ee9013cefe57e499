#!/usr/bin/env bash
# Tests the package scripts for real, each against a throwaway root under one mktemp -d:
#   packaging/deb/{postinst,prerm,postrm}   (DPKG_ROOT=<root>)
#   packaging/rpm/{post,preun}.sh           (CODEX_GUARD_PKG_ROOT=<root>)
#   packaging/macos/scripts/postinstall     (the target volume $3, or CODEX_GUARD_PKG_ROOT)
# with a fake codex-guard at <root>/usr/bin/codex-guard (usr/local/bin on macOS) that
# appends its path and arguments to a log and exits with $FAKE_CODEX_GUARD_EXIT; and
# packaging/macos/build-pkg.sh --layout-only against a fake release archive.
# The maintainer scripts run under sh (dash on Debian), as dpkg and rpm run them.
# Nothing outside the temporary directory is read or written.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0
ok() {
  passed=$((passed + 1))
  printf 'ok   %s\n' "$*"
}
bad() {
  failed=$((failed + 1))
  printf 'FAIL %s\n' "$*"
}

# fake_codex_guard PATH: a codex-guard that records its calls and exits as told.
fake_codex_guard() {
  mkdir -p "$(dirname "$1")"
  cat >"$1" <<'EOF'
#!/bin/sh
# Fake codex-guard: one line per call, "<its path> <arguments>".
{
  printf '%s' "$0"
  for arg in "$@"; do printf ' %s' "$arg"; done
  printf '\n'
} >>"$FAKE_CODEX_GUARD_LOG"
exit "${FAKE_CODEX_GUARD_EXIT:-0}"
EOF
  chmod 0755 "$1"
}

# new_root [BIN]: a fresh root with the fake at BIN (default usr/bin/codex-guard).
# Sets root, calls (the fake's log) and bin.
n=0
new_root() {
  n=$((n + 1))
  root=$tmp/root$n
  calls=$tmp/calls$n.log
  bin=$root/${1:-usr/bin/codex-guard}
  mkdir -p "$root/etc/codex-guard"
  : >"$calls"
  fake_codex_guard "$bin"
}
with_fleet() { printf 'local_only = true\n' >"$root/etc/codex-guard/fleet.toml"; }
with_receipt() { printf '{}\n' >"$root/etc/codex-guard/managed-receipt.json"; }

# run VAR SCRIPT ARG...: runs packaging/SCRIPT with sh, VAR=<root> (none when VAR is -)
# and the fake's settings; sets rc and out (stdout and stderr).
fake_exit=0
run() {
  local var=$1 script=$2
  shift 2
  local -a envs=(FAKE_CODEX_GUARD_LOG="$calls" FAKE_CODEX_GUARD_EXIT="$fake_exit")
  [ "$var" = - ] || envs+=("$var=$root")
  rc=0
  out=$(env -u DPKG_ROOT -u CODEX_GUARD_PKG_ROOT -u CODEX_GUARD_SYSTEM_ROOT -u CODEX_GUARD_FLEET_CONFIG \
    "${envs[@]}" sh "$here/$script" "$@" 2>&1) || rc=$?
}

# expect NAME: the last run exited 0 and the fake was called exactly as the following
# lines say (no lines: not called at all).
expect() {
  local name=$1
  shift
  local want=""
  if [ $# -gt 0 ]; then want=$(printf '%s\n' "$@"); fi
  local got
  got=$(cat "$calls")
  if [ "$rc" -ne 0 ]; then
    bad "$name: exit code $rc, want 0; output: $out"
  elif [ "$got" != "$want" ]; then
    bad "$name: codex-guard calls
    got:  ${got:-<none>}
    want: ${want:-<none>}"
  else
    ok "$name"
  fi
}
expect_out() {
  case $out in
    *"$2"*) ok "$1" ;;
    *) bad "$1: output lacks '$2': $out" ;;
  esac
}
# check NAME COMMAND...: ok when COMMAND succeeds.
check() {
  local name=$1
  shift
  if "$@" 2>/dev/null; then ok "$name"; else bad "$name"; fi
}
# expect_json TEXT: the last run exited 0 and printed TEXT.
expect_json() {
  [ "$rc" -eq 0 ] && case $out in *"$1"*) true ;; *) false ;; esac
}
expect_missing() {
  if [ -e "$2" ]; then bad "$1: $2 still exists"; else ok "$1"; fi
}

echo "== deb postinst"
new_root
run DPKG_ROOT deb/postinst configure ""
expect "postinst configure without fleet file or managed install runs nothing"
expect_out "postinst says how to set up" "codex-guard setup --managed --config /etc/codex-guard/fleet.toml"

new_root
with_fleet
run DPKG_ROOT deb/postinst configure ""
expect "postinst configure with a fleet file runs the managed setup with --config and --system-root" \
  "$bin setup --managed --silent --json --config $root/etc/codex-guard/fleet.toml --system-root $root"

new_root
with_fleet
with_receipt
run DPKG_ROOT deb/postinst configure 1.0.0
expect "postinst configure with a managed install refreshes it with --keep-settings (not the fleet file)" \
  "$bin setup --managed --silent --json --keep-settings --system-root $root"

for code in 1 2 3; do
  new_root
  with_fleet
  fake_exit=$code
  run DPKG_ROOT deb/postinst configure ""
  fake_exit=0
  expect "postinst succeeds when setup exits $code" \
    "$bin setup --managed --silent --json --config $root/etc/codex-guard/fleet.toml --system-root $root"
  [ "$code" = 1 ] && want="degraded" || want="exit code $code"
  expect_out "postinst reports setup's exit $code" "$want"
  expect_out "postinst names the next step after exit $code" "codex-guard doctor --managed --system-root $root"
done

new_root
with_receipt
fake_exit=2
run DPKG_ROOT deb/postinst configure 1.0.0
fake_exit=0
expect "postinst succeeds when the --keep-settings refresh fails" \
  "$bin setup --managed --silent --json --keep-settings --system-root $root"

new_root
with_fleet
rm "$bin"
run DPKG_ROOT deb/postinst configure ""
expect "postinst succeeds (and reports) when its binary is missing"
expect_out "postinst reports the missing binary" "is missing"

new_root
mkdir -p "$root/var/lib/codex-guard/uninstaller"
cp "$bin" "$root/var/lib/codex-guard/uninstaller/codex-guard"
run DPKG_ROOT deb/postinst configure 1.0.0
expect "postinst configure with a stale purge stash runs nothing"
expect_missing "postinst removes the purge stash and its empty parent" "$root/var/lib/codex-guard"

new_root
with_fleet
run DPKG_ROOT deb/postinst abort-remove
expect "postinst abort-remove runs nothing"

echo "== deb prerm and postrm"
new_root
with_receipt
run DPKG_ROOT deb/prerm remove
expect "prerm remove with a managed install runs nothing"
stash=$root/var/lib/codex-guard/uninstaller/codex-guard
if [ -x "$stash" ] && cmp -s "$bin" "$stash"; then
  ok "prerm remove stashes codex-guard in /var/lib/codex-guard/uninstaller"
else
  bad "prerm remove did not stash an executable copy at $stash"
fi
mode=$(stat -c %a "$stash" 2>/dev/null || echo none)
check "the stash is mode 0755 (it is $mode)" [ "$mode" = 755 ]
expect_out "prerm remove says the managed install stays" "stays active"
check "prerm leaves no temporary file" [ ! -e "$stash.new" ]

# dpkg now deletes the package's files; remove without purge changes nothing.
rm "$bin"
run DPKG_ROOT deb/postrm remove
expect "postrm remove runs nothing"
check "postrm remove keeps the managed install" [ -f "$root/etc/codex-guard/managed-receipt.json" ]
check "postrm remove keeps the stash" [ -x "$stash" ]

run DPKG_ROOT deb/postrm purge
expect "postrm purge runs the stash's uninstall --managed with --system-root" \
  "$stash uninstall --managed --silent --json --system-root $root"
expect_missing "postrm purge deletes the stash and /var/lib/codex-guard" "$root/var/lib/codex-guard"

new_root
with_receipt
run DPKG_ROOT deb/prerm remove
rm "$bin"
mkdir -p "$root/var/lib/codex-guard/keep"
fake_exit=3
run DPKG_ROOT deb/postrm purge
fake_exit=0
expect "postrm purge succeeds when the uninstall fails" \
  "$root/var/lib/codex-guard/uninstaller/codex-guard uninstall --managed --silent --json --system-root $root"
expect_out "postrm purge reports the failed uninstall" "exit code 3"
expect_missing "postrm purge deletes the stash after a failed uninstall" "$root/var/lib/codex-guard/uninstaller"
check "postrm purge keeps a non-empty /var/lib/codex-guard" [ -d "$root/var/lib/codex-guard/keep" ]

new_root
run DPKG_ROOT deb/prerm remove
expect "prerm remove without a managed install runs nothing"
expect_missing "prerm remove without a managed install stashes nothing" "$root/var/lib/codex-guard"

new_root
with_receipt
run DPKG_ROOT deb/prerm upgrade 2.0.0
expect "prerm upgrade runs nothing"
expect_missing "prerm upgrade stashes nothing" "$root/var/lib/codex-guard"

new_root
with_receipt
rm "$bin"
run DPKG_ROOT deb/postrm purge
expect "postrm purge without a stash runs nothing"
expect_out "postrm purge without a stash says how to remove the managed install" "codex-guard uninstall --managed"

new_root
mkdir -p "$root/var/lib/codex-guard/uninstaller"
cp "$bin" "$root/var/lib/codex-guard/uninstaller/codex-guard"
rm "$bin"
run DPKG_ROOT deb/postrm purge
expect "postrm purge without a managed install runs nothing"
expect_missing "postrm purge without a managed install still deletes the stash" "$root/var/lib/codex-guard"

echo "== rpm %post and %preun"
new_root
run CODEX_GUARD_PKG_ROOT rpm/post.sh 1
expect "%post 1 without fleet file or managed install runs nothing"
expect_out "%post 1 says how to set up" "codex-guard setup"

new_root
with_fleet
run CODEX_GUARD_PKG_ROOT rpm/post.sh 1
expect "%post 1 with a fleet file runs the managed setup with --config and --system-root" \
  "$bin setup --managed --silent --json --config $root/etc/codex-guard/fleet.toml --system-root $root"

new_root
with_fleet
with_receipt
run CODEX_GUARD_PKG_ROOT rpm/post.sh 2
expect "%post 2 with a managed install refreshes it with --keep-settings" \
  "$bin setup --managed --silent --json --keep-settings --system-root $root"

new_root
run CODEX_GUARD_PKG_ROOT rpm/post.sh 2
expect "%post 2 without fleet file or managed install runs nothing"

for code in 1 2; do
  new_root
  with_receipt
  fake_exit=$code
  run CODEX_GUARD_PKG_ROOT rpm/post.sh 2
  fake_exit=0
  expect "%post succeeds when setup exits $code" \
    "$bin setup --managed --silent --json --keep-settings --system-root $root"
  expect_out "%post names the next step after exit $code" "codex-guard doctor --managed"
done

new_root
with_receipt
run CODEX_GUARD_PKG_ROOT rpm/preun.sh 0
expect "%preun 0 with a managed install uninstalls it with --system-root" \
  "$bin uninstall --managed --silent --json --system-root $root"

new_root
with_receipt
run CODEX_GUARD_PKG_ROOT rpm/preun.sh 1
expect "%preun 1 (upgrade) runs nothing"

new_root
run CODEX_GUARD_PKG_ROOT rpm/preun.sh 0
expect "%preun 0 without a managed install runs nothing"

new_root
with_receipt
fake_exit=2
run CODEX_GUARD_PKG_ROOT rpm/preun.sh 0
fake_exit=0
expect "%preun succeeds when the uninstall fails" \
  "$bin uninstall --managed --silent --json --system-root $root"
expect_out "%preun reports the failed uninstall" "exit code 2"

echo "== macOS postinstall"
new_root usr/local/bin/codex-guard
run - macos/scripts/postinstall /tmp/codex-guard.pkg / "$root" /
expect "postinstall (target volume \$3) without fleet file or managed install runs nothing"

new_root usr/local/bin/codex-guard
with_fleet
run - macos/scripts/postinstall /tmp/codex-guard.pkg / "$root" /
expect "postinstall with a fleet file runs the managed setup with --config and --system-root" \
  "$bin setup --managed --silent --json --config $root/etc/codex-guard/fleet.toml --system-root $root"
check "postinstall logs to /var/log/codex-guard-install.log" \
  grep -q 'set up from /etc/codex-guard/fleet.toml' "$root/var/log/codex-guard-install.log"

new_root usr/local/bin/codex-guard
with_fleet
with_receipt
fake_exit=2
run CODEX_GUARD_PKG_ROOT macos/scripts/postinstall /tmp/codex-guard.pkg / / /
fake_exit=0
expect "postinstall (CODEX_GUARD_PKG_ROOT) refreshes a managed install and succeeds when setup fails" \
  "$bin setup --managed --silent --json --keep-settings --system-root $root"
check "postinstall logs the failed setup" grep -q 'exit code 2' "$root/var/log/codex-guard-install.log"

echo "== macOS build-pkg.sh --layout-only"
version=1.2.3
top=codex-guard-$version-x86_64-unknown-linux-gnu
rel=$tmp/release
mkdir -p "$rel/$top/man" "$rel/$top/completions"
for prog in codex-guard codex-guard-hook; do
  printf '#!/bin/sh\necho %s %s\n' "$prog" "$version" >"$rel/$top/$prog"
  chmod 0755 "$rel/$top/$prog"
done
printf 'readme\n' >"$rel/$top/README.md"
printf 'license\n' >"$rel/$top/LICENSE"
man_pages="codex-guard codex-guard-setup codex-guard-doctor codex-guard-uninstall codex-guard-backup codex-guard-restore codex-guard-events codex-guard-self-update"
for page in $man_pages; do printf '.TH %s 1\n' "$page" >"$rel/$top/man/$page.1"; done
for c in codex-guard.bash _codex-guard codex-guard.fish _codex-guard.ps1; do
  printf '# %s\n' "$c" >"$rel/$top/completions/$c"
done
tar -czf "$rel/$top.tar.gz" -C "$rel" "$top"

rc=0
out=$(bash "$here/macos/build-pkg.sh" --archive "$rel/$top.tar.gz" --version "$version" --out "$tmp/pkg" --layout-only 2>&1) || rc=$?
if [ "$rc" -eq 0 ]; then ok "build-pkg.sh --layout-only succeeds on Linux"; else bad "build-pkg.sh --layout-only: exit $rc: $out"; fi
pkgroot=$tmp/pkg/pkgroot
want_files="usr/local/bin/codex-guard usr/local/bin/codex-guard-hook
usr/local/share/bash-completion/completions/codex-guard
usr/local/share/zsh/site-functions/_codex-guard
usr/local/share/fish/vendor_completions.d/codex-guard.fish
usr/local/share/doc/codex-guard/README.md usr/local/share/doc/codex-guard/LICENSE
usr/local/share/codex-guard/installed-by-package"
for page in $man_pages; do want_files="$want_files usr/local/share/man/man1/$page.1"; done
missing=""
for f in $want_files; do [ -f "$pkgroot/$f" ] || missing="$missing $f"; done
check "the payload root holds every expected file (missing:${missing:- none})" [ -z "$missing" ]
got_count=$(find "$pkgroot" -type f | wc -l)
want_count=0
for f in $want_files; do want_count=$((want_count + 1)); done
check "the payload root holds nothing else ($got_count files, want $want_count)" [ "$got_count" -eq "$want_count" ]
if [ -x "$pkgroot/usr/local/bin/codex-guard" ] && [ -x "$pkgroot/usr/local/bin/codex-guard-hook" ] &&
  [ "$(stat -c %a "$pkgroot/usr/local/share/zsh/site-functions/_codex-guard")" = 644 ]; then
  ok "programs are 0755, the rest 0644"
else
  bad "wrong modes in the payload root"
fi
check "the bash completion is the archive's codex-guard.bash" \
  cmp -s "$rel/$top/completions/codex-guard.bash" "$pkgroot/usr/local/share/bash-completion/completions/codex-guard"

rc=0
out=$(bash "$here/macos/build-pkg.sh" --archive "$rel/$top.tar.gz" --version 9.9.9 --out "$tmp/pkg2" --layout-only 2>&1) || rc=$?
if [ "$rc" -eq 2 ]; then ok "build-pkg.sh refuses an archive of another version (exit 2)"; else bad "build-pkg.sh with the wrong version: exit $rc: $out"; fi

rm "$rel/$top/completions/_codex-guard"
tar -czf "$rel/$top.tar.gz" -C "$rel" "$top"
rc=0
out=$(bash "$here/macos/build-pkg.sh" --archive "$rel/$top.tar.gz" --version "$version" --out "$tmp/pkg3" --layout-only 2>&1) || rc=$?
case "$rc:$out" in
  2:*_codex-guard*) ok "build-pkg.sh refuses an archive that lacks a completion (exit 2)" ;;
  *) bad "build-pkg.sh with a broken archive: exit $rc: $out" ;;
esac

if ! command -v pkgbuild >/dev/null 2>&1; then
  rc=0
  out=$(bash "$here/macos/build-pkg.sh" --archive "$rel/$top.tar.gz" --version "$version" --out "$tmp/pkg4" 2>&1) || rc=$?
  if [ "$rc" -eq 10 ]; then ok "build-pkg.sh without pkgbuild and without --layout-only: exit 10"; else bad "build-pkg.sh without pkgbuild: exit $rc: $out"; fi
fi

# With CODEX_GUARD_BIN_DIR (a directory holding built codex-guard and codex-guard-hook,
# e.g. target/debug): the whole package life cycle with the real programs, every
# machine-wide path below a throwaway root, HOME and TMPDIR temporary too.
if [ -n "${CODEX_GUARD_BIN_DIR:-}" ]; then
  echo "== real codex-guard from $CODEX_GUARD_BIN_DIR"
  mkdir -p "$tmp/home" "$tmp/tmpdir"
  # real_root BINDIR: a fresh root with copies of the real programs in BINDIR and a fleet file.
  real_root() {
    n=$((n + 1))
    root=$tmp/real$n
    mkdir -p "$root/$1" "$root/etc/codex-guard"
    cp "$CODEX_GUARD_BIN_DIR/codex-guard" "$CODEX_GUARD_BIN_DIR/codex-guard-hook" "$root/$1/"
    printf 'local_only = true\n' >"$root/etc/codex-guard/fleet.toml"
    chmod 0600 "$root/etc/codex-guard/fleet.toml"
  }
  # real VAR SCRIPT ARG...: like run, with the real programs.
  real() {
    local var=$1 script=$2
    shift 2
    rc=0
    out=$(env -u CODEX_HOME -u CODEX_GUARD_SYSTEM_ROOT -u CODEX_GUARD_FLEET_CONFIG HOME="$tmp/home" TMPDIR="$tmp/tmpdir" \
      "$var=$root" sh "$here/$script" "$@" 2>&1) || rc=$?
  }
  installed() {
    [ -f "$root/etc/codex-guard/managed-receipt.json" ] &&
      [ -x "$root/usr/local/lib/codex-guard/codex-guard-hook" ] &&
      grep -q codex-guard-hook "$root/etc/codex/requirements.toml"
  }
  removed() {
    [ ! -e "$root/etc/codex-guard/managed-receipt.json" ] &&
      [ ! -e "$root/usr/local/lib/codex-guard" ] &&
      [ ! -e "$root/etc/codex/requirements.toml" ] &&
      [ -f "$root/etc/codex-guard/fleet.toml" ]
  }

  real_root usr/bin
  real DPKG_ROOT deb/postinst configure ""
  check "deb: postinst sets up the managed install from the fleet file (exit $rc)" installed
  real DPKG_ROOT deb/postinst configure 0.1.0
  check "deb: postinst on a reinstall leaves it unchanged (exit $rc)" expect_json '"status":"unchanged"'
  # An upgrade: a new codex-guard-hook (here the same program with bytes appended).
  { cat "$CODEX_GUARD_BIN_DIR/codex-guard-hook"; printf 'upgrade'; } >"$root/usr/bin/codex-guard-hook"
  real DPKG_ROOT deb/postinst configure 0.1.0
  check "deb: postinst on an upgrade copies the new runtime to the managed prefix (exit $rc)" \
    cmp -s "$root/usr/bin/codex-guard-hook" "$root/usr/local/lib/codex-guard/codex-guard-hook"
  real DPKG_ROOT deb/prerm remove
  rm "$root/usr/bin/codex-guard" "$root/usr/bin/codex-guard-hook"
  real DPKG_ROOT deb/postrm remove
  check "deb: remove keeps the managed install active" installed
  real DPKG_ROOT deb/postrm purge
  check "deb: purge removes the managed install and the stash, keeps the fleet file (exit $rc)" removed
  check "deb: purge leaves no /var/lib/codex-guard" [ ! -e "$root/var/lib/codex-guard" ]

  real_root usr/bin
  real CODEX_GUARD_PKG_ROOT rpm/post.sh 1
  check "rpm: %post 1 sets up the managed install from the fleet file (exit $rc)" installed
  real CODEX_GUARD_PKG_ROOT rpm/post.sh 2
  check "rpm: %post 2 refreshes it (exit $rc)" expect_json '"status":"unchanged"'
  real CODEX_GUARD_PKG_ROOT rpm/preun.sh 1
  check "rpm: %preun 1 (upgrade) keeps it" installed
  real CODEX_GUARD_PKG_ROOT rpm/preun.sh 0
  check "rpm: %preun 0 removes it (exit $rc)" removed

  real_root usr/local/bin
  real CODEX_GUARD_PKG_ROOT macos/scripts/postinstall /tmp/codex-guard.pkg / / /
  check "macOS: postinstall sets up the managed install from the fleet file (exit $rc)" installed
  check "macOS: postinstall logs setup's answer" grep -q '"scope":"managed"' "$root/var/log/codex-guard-install.log"
else
  echo "== real codex-guard: skipped (set CODEX_GUARD_BIN_DIR=target/debug to run the life cycle with built programs)"
fi

printf '\n%d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
