#!/bin/sh
# Install codex-guard from a release, then run `codex-guard setup` with the
# remaining arguments.
#
#   curl -fsSL https://github.com/codex-guard/codex-guard/releases/latest/download/install.sh \
#     | sh -s -- --silent --json --url https://akto-ingest.example.com --token-file /etc/codex-guard/token
#
# Options, before the setup arguments (the first other argument, or `--`, ends them):
#   --prefix DIR    install the binaries into DIR/bin (default /usr/local; env CODEX_GUARD_PREFIX)
#   --version V     release to install, e.g. 0.2.0 (default latest; env CODEX_GUARD_VERSION)
#   --no-setup      install the binaries and stop
# Environment:
#   CODEX_GUARD_RELEASE_URL  directory holding the archives and SHA256SUMS (a mirror)
#   CODEX_GUARD_TARGET       platform triple, when uname guesses wrong (e.g. a musl build)
#   CODEX_GUARD_RELEASE_ALLOW_HTTP=1 accept a plain-http mirror that is not on this machine
#
# Only this script's messages go to stderr; stdout is setup's (its JSON with --json).
# Exit codes: setup's own (0 installed, 1 degraded, 2 bad input, 3 needs root), else
#   2 bad usage, 10 unsupported platform or missing tool, 11 download failed,
#   12 checksum mismatch or missing, 13 could not install.
set -eu

repo_url=https://github.com/codex-guard/codex-guard/releases

say() { printf 'codex-guard install: %s\n' "$*" >&2; }
die() {
  code=$1
  shift
  say "error: $*"
  exit "$code"
}

usage() {
  cat <<'EOF'
usage: install.sh [--prefix DIR] [--version V] [--no-setup] [--] [codex-guard setup arguments...]
Downloads codex-guard, verifies its sha256 against the release's SHA256SUMS, installs
codex-guard and codex-guard-hook into DIR/bin (default /usr/local/bin) and runs
`codex-guard setup` with the remaining arguments.
EOF
}

prefix=${CODEX_GUARD_PREFIX:-/usr/local}
version=${CODEX_GUARD_VERSION:-latest}
run_setup=1
while [ $# -gt 0 ]; do
  case $1 in
    --prefix)
      [ $# -ge 2 ] || die 2 "--prefix needs a directory"
      prefix=$2
      shift 2
      ;;
    --prefix=*)
      prefix=${1#--prefix=}
      shift
      ;;
    --version)
      [ $# -ge 2 ] || die 2 "--version needs a version such as 0.2.0 or latest"
      version=$2
      shift 2
      ;;
    --version=*)
      version=${1#--version=}
      shift
      ;;
    --no-setup)
      run_setup=0
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    --)
      shift
      break
      ;;
    *) break ;;
  esac
done
[ -n "$prefix" ] || die 2 "--prefix is empty"
version=${version#v}
case $version in
  *[!0-9A-Za-z.+-]*) die 2 "bad version '$version': expected latest or a number such as 0.2.0" ;;
  latest | [0-9]*) ;;
  *) die 2 "bad version '$version': expected latest or a number such as 0.2.0" ;;
esac
bindir=${prefix%/}/bin

detect_target() {
  os=$(uname -s)
  arch=$(uname -m)
  # A shell under Rosetta reports x86_64 on Apple silicon; the native build is the one to install.
  if [ "$os" = Darwin ] && [ "$arch" = x86_64 ] &&
    [ "$(sysctl -n sysctl.proc_translated 2>/dev/null || echo 0)" = 1 ]; then
    arch=arm64
  fi
  case $arch in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch64 ;;
    *) die 10 "no codex-guard build for the $arch processor" ;;
  esac
  case $os in
    Linux) echo "$arch-unknown-linux-gnu" ;;
    Darwin) echo "$arch-apple-darwin" ;;
    *) die 10 "no codex-guard build for $os (Windows: see deploy/intune)" ;;
  esac
}
target=${CODEX_GUARD_TARGET:-$(detect_target)}

if [ -n "${CODEX_GUARD_RELEASE_URL:-}" ]; then
  base=${CODEX_GUARD_RELEASE_URL%/}
elif [ "$version" = latest ]; then
  base=$repo_url/latest/download
else
  base=$repo_url/download/v$version
fi
# The checksums come from the same server as the archive: over plain http
# they would prove nothing, so http is only for a mirror on this machine.
is_loopback() {
  hostport=${1#http://}
  hostport=${hostport%%/*}
  case $hostport in
    \[*) host=${hostport%%]*}] ;;
    *) host=${hostport%%:*} ;;
  esac
  case $host in
    localhost | "[::1]") return 0 ;;
    127.*[!0-9.]* | *@*) return 1 ;;
    127.*) return 0 ;;
  esac
  return 1
}
case $base in
  https://*) ;;
  http://*)
    if ! is_loopback "$base" && [ "${CODEX_GUARD_RELEASE_ALLOW_HTTP:-}" != 1 ]; then
      die 2 "refusing plain-http release URL $base (set CODEX_GUARD_RELEASE_ALLOW_HTTP=1 to accept it)"
    fi
    ;;
  *) die 2 "CODEX_GUARD_RELEASE_URL must be an http(s) URL, not '$base'" ;;
esac

if command -v curl >/dev/null 2>&1; then
  fetch() { curl -fsSL --retry 3 --connect-timeout 20 -o "$2" "$1"; }
elif command -v wget >/dev/null 2>&1; then
  fetch() { wget -q -t 3 -T 20 -O "$2" "$1"; }
else
  die 10 "curl or wget is needed to download codex-guard"
fi
if command -v sha256sum >/dev/null 2>&1; then
  sha256() { sha256sum "$1" | awk '{print $1}'; }
elif command -v shasum >/dev/null 2>&1; then
  sha256() { shasum -a 256 "$1" | awk '{print $1}'; }
else
  die 10 "sha256sum or shasum is needed to verify the download"
fi
command -v tar >/dev/null 2>&1 || die 10 "tar is needed to unpack codex-guard"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/codex-guard-install.XXXXXX") || die 13 "cannot create a temporary directory"
cleanup() { rm -rf "$tmp"; }
# A signal ends the script through exit, so the EXIT trap still cleans up.
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'exit 1' HUP PIPE

say "downloading $base/SHA256SUMS"
fetch "$base/SHA256SUMS" "$tmp/SHA256SUMS" || die 11 "cannot download $base/SHA256SUMS"

# `latest` has no version in its URL: the archive's name in SHA256SUMS tells it.
if [ "$version" = latest ]; then
  archive=$(awk -v t="$target" '{ n = $2; sub(/^\*/, "", n); if (n ~ ("^codex-guard-[0-9][^/]*-" t "\\.tar\\.gz$")) print n }' "$tmp/SHA256SUMS")
  case $archive in
    "") die 12 "SHA256SUMS at $base lists no archive for $target" ;;
    *"
"*) die 12 "SHA256SUMS at $base lists several archives for $target" ;;
  esac
  version=${archive#codex-guard-}
  version=${version%-"$target".tar.gz}
else
  archive=codex-guard-$version-$target.tar.gz
fi
expected=$(awk -v a="$archive" '{ n = $2; sub(/^\*/, "", n); if (n == a) { print tolower($1); exit } }' "$tmp/SHA256SUMS")
[ -n "$expected" ] || die 12 "SHA256SUMS at $base has no entry for $archive"
case $expected in
  *[!0-9a-f]*) die 12 "SHA256SUMS has a malformed entry for $archive" ;;
esac
[ ${#expected} -eq 64 ] || die 12 "SHA256SUMS has a malformed entry for $archive"

say "downloading $archive"
fetch "$base/$archive" "$tmp/$archive" || die 11 "cannot download $base/$archive"
actual=$(sha256 "$tmp/$archive")
# Nothing from the archive is unpacked, let alone run, before this check.
[ "$actual" = "$expected" ] ||
  die 12 "checksum mismatch for $archive: expected sha256 $expected, got $actual; nothing was installed"
say "sha256 verified: $actual"

tar -xzf "$tmp/$archive" -C "$tmp" || die 13 "cannot unpack $archive"
src=$tmp/codex-guard-$version-$target
for bin in codex-guard codex-guard-hook; do
  [ -f "$src/$bin" ] || die 13 "$archive has no codex-guard-$version-$target/$bin"
done

if ! mkdir -p "$bindir" 2>/dev/null || [ ! -w "$bindir" ]; then
  die 13 "cannot write to $bindir: run as root, or pass --prefix \"\$HOME/.local\""
fi
# Copy beside the target, then rename: a program running from the old binary keeps it.
for bin in codex-guard-hook codex-guard; do
  new=$bindir/.$bin.new.$$
  if ! { cp "$src/$bin" "$new" && chmod 0755 "$new" && mv -f "$new" "$bindir/$bin"; }; then
    rm -f "$new"
    die 13 "cannot install $bindir/$bin"
  fi
done
say "installed codex-guard $version ($target) into $bindir"

cleanup
trap - EXIT
[ "$run_setup" = 1 ] || exit 0
exec "$bindir/codex-guard" setup "$@"
