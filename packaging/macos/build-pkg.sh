#!/usr/bin/env bash
# Builds the macOS installer package from a release archive:
#
#   packaging/macos/build-pkg.sh --archive codex-guard-V-aarch64-apple-darwin.tar.gz \
#       --version V --out DIR [--sign "Developer ID Installer: ..."] [--layout-only]
#
# Lays out the payload root in DIR/pkgroot:
#   usr/local/bin/codex-guard, usr/local/bin/codex-guard-hook          (0755)
#   usr/local/share/man/man1/*.1                                      (the archive's man/)
#   usr/local/share/bash-completion/completions/codex-guard            (completions/codex-guard.bash)
#   usr/local/share/zsh/site-functions/_codex-guard
#   usr/local/share/fish/vendor_completions.d/codex-guard.fish
#   usr/local/share/doc/codex-guard/README.md, LICENSE
#   usr/local/share/codex-guard/installed-by-package                  (self-update leaves it to the pkg)
# then runs pkgbuild with packaging/macos/scripts (postinstall) to write
# DIR/codex-guard-V.pkg (identifier io.github.codex-guard.codex-guard, install location /).
# With --layout-only it stops after the payload root: that part runs on Linux too (CI),
# with any release archive.
#
# Written for macOS's bash 3.2. Exit codes: 0 done, 2 bad usage or a bad archive,
# 10 pkgbuild is missing.
set -euo pipefail

identifier=io.github.codex-guard.codex-guard
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
scripts_src=$here/scripts

usage() {
  # The header comment above, without its '#'.
  awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}"
}
die() {
  printf 'build-pkg: %s\n' "$1" >&2
  exit "${2:-2}"
}

archive=
version=
out=
sign=
layout_only=0
while [ $# -gt 0 ]; do
  case $1 in
    --archive) [ $# -ge 2 ] || die "--archive needs a value"; archive=$2; shift 2 ;;
    --archive=*) archive=${1#*=}; shift ;;
    --version) [ $# -ge 2 ] || die "--version needs a value"; version=$2; shift 2 ;;
    --version=*) version=${1#*=}; shift ;;
    --out) [ $# -ge 2 ] || die "--out needs a value"; out=$2; shift 2 ;;
    --out=*) out=${1#*=}; shift ;;
    --sign) [ $# -ge 2 ] || die "--sign needs a value"; sign=$2; shift 2 ;;
    --sign=*) sign=${1#*=}; shift ;;
    --layout-only) layout_only=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[ -n "$archive" ] || die "--archive is required (see --help)"
[ -n "$version" ] || die "--version is required (see --help)"
[ -n "$out" ] || die "--out is required (see --help)"
[ -f "$archive" ] || die "no archive at $archive"
case $version in
  *[!0-9A-Za-z.+-]* | [!0-9]*) die "--version '$version' is not a version (e.g. 1.2.3)" ;;
esac
case $(basename "$archive") in
  "codex-guard-$version-"*.tar.gz) ;;
  *) die "$(basename "$archive") is not codex-guard-$version-<target>.tar.gz" ;;
esac
if [ "$layout_only" = 0 ] && ! command -v pkgbuild >/dev/null 2>&1; then
  die "pkgbuild is missing (it comes with Xcode's command line tools); use --layout-only elsewhere" 10
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/codex-guard-pkg.XXXXXX")
trap 'rm -rf "$work"' EXIT

mkdir "$work/archive"
tar -xzf "$archive" -C "$work/archive" || die "cannot unpack $archive"
top=$(basename "$archive" .tar.gz)
src=$work/archive/$top
[ -d "$src" ] || die "$archive has no top directory $top/"

for f in codex-guard codex-guard-hook README.md LICENSE \
  completions/codex-guard.bash completions/_codex-guard completions/codex-guard.fish; do
  [ -f "$src/$f" ] || die "$archive lacks $top/$f"
done
man_pages=0
for page in "$src"/man/*.1; do
  [ -f "$page" ] && man_pages=$((man_pages + 1))
done
[ "$man_pages" -gt 0 ] || die "$archive has no man pages ($top/man/*.1)"

root=$out/pkgroot
rm -rf "$root"
install -d -m 0755 \
  "$root/usr/local/bin" \
  "$root/usr/local/share/man/man1" \
  "$root/usr/local/share/bash-completion/completions" \
  "$root/usr/local/share/zsh/site-functions" \
  "$root/usr/local/share/fish/vendor_completions.d" \
  "$root/usr/local/share/doc/codex-guard" \
  "$root/usr/local/share/codex-guard"
install -m 0755 "$src/codex-guard" "$src/codex-guard-hook" "$root/usr/local/bin/"
install -m 0644 "$src"/man/*.1 "$root/usr/local/share/man/man1/"
install -m 0644 "$src/completions/codex-guard.bash" "$root/usr/local/share/bash-completion/completions/codex-guard"
install -m 0644 "$src/completions/_codex-guard" "$root/usr/local/share/zsh/site-functions/_codex-guard"
install -m 0644 "$src/completions/codex-guard.fish" "$root/usr/local/share/fish/vendor_completions.d/codex-guard.fish"
install -m 0644 "$src/README.md" "$src/LICENSE" "$root/usr/local/share/doc/codex-guard/"
# `codex-guard self-update` leaves a packaged install (../share/codex-guard/installed-by-package
# beside its bin directory) to whoever deploys the package.
printf '%s\n' "macOS package $identifier: install a newer codex-guard .pkg (or let your MDM deploy it)" \
  >"$root/usr/local/share/codex-guard/installed-by-package"
chmod 0644 "$root/usr/local/share/codex-guard/installed-by-package"
printf 'build-pkg: payload root %s (%s man pages)\n' "$root" "$man_pages"

if [ "$layout_only" = 1 ]; then
  exit 0
fi

# The scripts go in executable whatever the checkout did to their modes.
mkdir "$work/scripts"
cp "$scripts_src/postinstall" "$work/scripts/postinstall"
chmod 0755 "$work/scripts/postinstall"

pkg=$out/codex-guard-$version.pkg
set -- --root "$root" --scripts "$work/scripts" --identifier "$identifier" \
  --version "$version" --install-location / --ownership recommended
if [ -n "$sign" ]; then
  set -- "$@" --sign "$sign"
fi
pkgbuild "$@" "$pkg"
printf 'build-pkg: wrote %s\n' "$pkg"
