#!/usr/bin/env bash
# Release and OS packages, for real: builds the release archive, the .deb and the .rpm
# with `cargo xtask dist`, lists what they hold, unpacks each into a throwaway root and
# runs the programs from there (setup and doctor into a temp Codex home), runs the
# Debian maintainer scripts against that root with a fleet file (postinst sets up the
# machine-wide install, prerm keeps the uninstaller, postrm purge removes it), checks
# the macOS, Windows and Homebrew files (cargo xtask check-packaging), and builds the
# higher-version release the self-update tests serve (CODEX_GUARD_TEST_RELEASE_DIR), signed
# with a key made for the run.
#
# Installs what it needs when missing: cargo-deb and cargo-generate-rpm (pinned, into
# .tools/cargo), rpm and cpio from apt. Every path it writes is under target/ or a
# mktemp directory; the machine's /etc, $HOME and ~/.codex are never touched.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
jobs="${CARGO_BUILD_JOBS:-2}"
cargo_deb_version=3.8.0
cargo_rpm_version=0.21.1
tools="$root/.tools/cargo"
export PATH="$tools/bin:$PATH"

step() { printf '\n==> %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
checks=0
ok() { checks=$((checks + 1)); echo "ok: $*"; }

installed_version() { "$1" --version 2>/dev/null | awk '{print $NF}'; }

step "packaging tools"
if [ "$(installed_version "$tools/bin/cargo-deb")" != "$cargo_deb_version" ]; then
  cargo install --locked -j"$jobs" --root "$tools" cargo-deb --version "$cargo_deb_version"
fi
if [ "$(installed_version "$tools/bin/cargo-generate-rpm")" != "$cargo_rpm_version" ]; then
  cargo install --locked -j"$jobs" --root "$tools" cargo-generate-rpm --version "$cargo_rpm_version"
fi
if ! command -v rpm2cpio >/dev/null 2>&1 || ! command -v cpio >/dev/null 2>&1 || ! command -v rpm >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y rpm cpio >/dev/null || { apt-get update >/dev/null && apt-get install -y rpm cpio >/dev/null; }
  else
    fail "rpm, rpm2cpio and cpio are missing: install them (apt-get install rpm cpio)"
  fi
fi
echo "cargo-deb $(installed_version "$tools/bin/cargo-deb"), cargo-generate-rpm $(installed_version "$tools/bin/cargo-generate-rpm")"

step "man pages and completions are current"
cargo xtask gen --check

version=$(cargo metadata --no-deps --format-version 1 |
  python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="codex-guard"))')
target=$(rustc -vV | sed -n 's/^host: //p')
dist="$root/target/dist"
rm -rf "$dist"

step "cargo xtask dist --deb --rpm ($version, $target)"
cargo xtask dist --deb --rpm -j"$jobs" --out "$dist"
archive="$dist/codex-guard-$version-$target.tar.gz"
deb=$(ls "$dist"/codex-guard_"$version"_*.deb)
rpm_file=$(ls "$dist"/codex-guard-"$version"-*.rpm)
(cd "$dist" && sha256sum --check --strict SHA256SUMS) || fail "SHA256SUMS does not match the files"
for f in "$archive" "$deb" "$rpm_file"; do
  grep -q "  $(basename "$f")\$" "$dist/SHA256SUMS" || fail "SHA256SUMS does not list $(basename "$f")"
done
ok "archive, .deb and .rpm built and listed in SHA256SUMS"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step "release archive contents"
tar -tzf "$archive" | sort | tee "$work/archive.txt"
for f in codex-guard codex-guard-hook README.md LICENSE man/codex-guard.1 man/codex-guard-setup.1 \
  man/codex-guard-self-update.1 completions/codex-guard.bash completions/_codex-guard \
  completions/codex-guard.fish completions/_codex-guard.ps1; do
  grep -qx "codex-guard-$version-$target/$f" "$work/archive.txt" || fail "the archive lacks $f"
done
ok "archive holds both programs, README, LICENSE, man pages and completions under codex-guard-$version-$target/"

step ".deb contents"
dpkg-deb --info "$deb"
dpkg-deb --contents "$deb" | tee "$work/deb.txt"
for f in ./usr/bin/codex-guard ./usr/bin/codex-guard-hook ./usr/share/man/man1/codex-guard.1.gz \
  ./usr/share/man/man1/codex-guard-setup.1.gz ./usr/share/bash-completion/completions/codex-guard \
  ./usr/share/zsh/vendor-completions/_codex-guard ./usr/share/fish/vendor_completions.d/codex-guard.fish \
  ./usr/share/codex-guard/installed-by-package ./usr/share/doc/codex-guard/copyright; do
  grep -q " $f\$" "$work/deb.txt" || fail "the .deb lacks $f"
done
for script in postinst prerm postrm; do
  dpkg-deb --info "$deb" "$script" >/dev/null || fail "the .deb has no $script"
done
ok ".deb holds the programs, man pages, completions, the package marker and its maintainer scripts"

step ".rpm contents"
rpm -qp --info "$rpm_file" 2>/dev/null | head -20
rpm -qlp "$rpm_file" 2>/dev/null | tee "$work/rpm.txt"
for f in /usr/bin/codex-guard /usr/bin/codex-guard-hook /usr/share/man/man1/codex-guard.1 \
  /usr/share/bash-completion/completions/codex-guard /usr/share/codex-guard/installed-by-package; do
  grep -qx "$f" "$work/rpm.txt" || fail "the .rpm lacks $f"
done
rpm -qp --scripts "$rpm_file" 2>/dev/null | tee "$work/rpm-scripts.txt"
grep -q "postinstall scriptlet" "$work/rpm-scripts.txt" || fail "the .rpm has no %post"
grep -q "preuninstall scriptlet" "$work/rpm-scripts.txt" || fail "the .rpm has no %preun"
ok ".rpm holds the programs, man pages, completions, the marker and its %post/%preun"

run_from_root() {
  local label=$1 pkgroot=$2
  local bin="$pkgroot/usr/bin"
  [ "$("$bin/codex-guard" --version)" = "codex-guard $version" ] || fail "$label: codex-guard --version"
  [ "$("$bin/codex-guard-hook" --version)" = "codex-guard-hook $version" ] || fail "$label: codex-guard-hook --version"
  local home="$work/$label home"
  mkdir -p "$home" "$work/$label-system"
  env -i PATH="$PATH" HOME="$home" "$bin/codex-guard" setup --silent --json --local-only \
    --codex-home "$home/.codex" --system-root "$work/$label-system" >"$work/$label-setup.json"
  grep -q '"status":"changed"' "$work/$label-setup.json" || fail "$label: setup did not change anything"
  "$home/.codex/codex-guard/bin/codex-guard-hook" --version | grep -qx "codex-guard-hook $version" ||
    fail "$label: setup did not install the package's runtime"
  local rc=0
  env -i PATH="$PATH" HOME="$home" "$bin/codex-guard" doctor --json --codex-home "$home/.codex" \
    --system-root "$work/$label-system" --codex-bin /nonexistent >"$work/$label-doctor.json" || rc=$?
  python3 - "$work/$label-doctor.json" <<'EOF' || fail "$label: doctor reports a failed check"
import json, sys
report = json.load(open(sys.argv[1]))
failed = [c["id"] for c in report["checks"] if c["status"] == "fail"]
print("doctor:", report["status"], "failed:", failed)
sys.exit(1 if failed else 0)
EOF
  # A package owns updates: self-update refuses before any network use.
  rc=0
  env -i PATH="$PATH" HOME="$home" "$bin/codex-guard" self-update --codex-home "$home/.codex" \
    --source http://127.0.0.1:9 2>"$work/$label-update.err" || rc=$?
  [ "$rc" -eq 3 ] || fail "$label: self-update from a package exited $rc, expected 3: $(cat "$work/$label-update.err")"
  grep -q "package manager" "$work/$label-update.err" || fail "$label: self-update did not name the package manager"
  ok "$label: programs run from the unpacked package; setup, doctor pass; self-update refuses (exit 3)"
}

step "unpack the .deb into a throwaway root and run it"
debroot="$work/deb root"
dpkg -x "$deb" "$debroot"
run_from_root deb "$debroot"

step "unpack the .rpm into a throwaway root and run it"
rpmroot="$work/rpm root"
mkdir -p "$rpmroot"
rpm -K --nosignature "$rpm_file" | grep -q "digests OK" || fail "the .rpm's digests do not verify"
# Debian's rpm2cpio exits 1 even after writing the whole payload: judge by what cpio unpacks.
rpm2cpio "$rpm_file" >"$work/payload.cpio" || true
(cd "$rpmroot" && cpio -idm --quiet <"$work/payload.cpio")
for program in codex-guard codex-guard-hook; do
  cmp "$rpmroot/usr/bin/$program" "$debroot/usr/bin/$program" || fail "the .rpm's $program differs from the .deb's"
done
run_from_root rpm "$rpmroot"

step "Debian maintainer scripts with the real programs (DPKG_ROOT, as root)"
if [ "$(id -u)" -ne 0 ]; then
  fail "the maintainer-script checks set up a machine-wide install in a throwaway root and need root"
fi
scripts="$work/deb control"
dpkg-deb --control "$deb" "$scripts"
mkdir -p "$debroot/etc/codex" "$debroot/etc/codex-guard"
printf '# admin settings\n[features]\nweb_search = true\n' >"$debroot/etc/codex/requirements.toml"
cp "$debroot/etc/codex/requirements.toml" "$work/requirements.before"
printf 'local_only = true\nupdates = "mdm"\n' >"$debroot/etc/codex-guard/fleet.toml"
DPKG_ROOT="$debroot" sh "$scripts/postinst" configure
[ -f "$debroot/etc/codex-guard/managed-receipt.json" ] || fail "postinst did not set up the managed install"
grep -q 'codex-guard-hook' "$debroot/etc/codex/requirements.toml" || fail "postinst wrote no managed hooks"
grep -q 'web_search = true' "$debroot/etc/codex/requirements.toml" || fail "postinst lost the admin's setting"
"$debroot/usr/local/lib/codex-guard/codex-guard-hook" --version | grep -qx "codex-guard-hook $version" ||
  fail "postinst did not install the runtime in the managed prefix"
ok "postinst configure with a fleet file: managed install set up in the package root"

DPKG_ROOT="$debroot" sh "$scripts/postinst" configure "$version"
ok "postinst configure again (upgrade path, --keep-settings) succeeds"

DPKG_ROOT="$debroot" sh "$scripts/prerm" remove
[ -x "$debroot/var/lib/codex-guard/uninstaller/codex-guard" ] || fail "prerm remove kept no uninstaller"
# What dpkg does between prerm and postrm: the package's files go.
dpkg-deb --contents "$deb" | awk '$1 !~ /^d/ {print $NF}' | while read -r f; do rm -f "$debroot/$f"; done
[ ! -e "$debroot/usr/bin/codex-guard" ] || fail "simulated removal left /usr/bin/codex-guard"
DPKG_ROOT="$debroot" sh "$scripts/postrm" remove
[ -f "$debroot/etc/codex-guard/managed-receipt.json" ] || fail "postrm remove took the managed install away"
DPKG_ROOT="$debroot" sh "$scripts/postrm" purge
[ ! -e "$debroot/etc/codex-guard/managed-receipt.json" ] || fail "postrm purge left the managed install"
[ ! -e "$debroot/var/lib/codex-guard" ] || fail "postrm purge left /var/lib/codex-guard"
cmp "$debroot/etc/codex/requirements.toml" "$work/requirements.before" ||
  fail "purge did not give back the admin's requirements.toml byte for byte"
ok "prerm remove keeps the uninstaller; postrm purge runs it: requirements.toml byte-identical, state gone"

step "maintainer scripts with a fake codex-guard (every branch)"
packaging/test-scripts.sh

step "macOS, Windows and Homebrew files (cargo xtask check-packaging)"
# One target is built here; a full release (every target) runs it without the flag.
cargo xtask check-packaging --release-dir "$dist" --allow-missing-targets
ok "cargo xtask check-packaging"

step "the higher-version release the self-update tests serve, signed with a key made now"
release_dir="$root/target/self-update-release"
rm -rf "$release_dir"
mkdir -p "$release_dir"
# The seed exists for this run only; the release is signed with it and its programs carry
# its public key as their built-in release key, as an official release carries the real one.
cargo xtask keygen --out "$release_dir/test-release.seed" >/dev/null
cargo xtask dist --version 99.0.0 -j"$jobs" --sign-key "$release_dir/test-release.seed" --out "$release_dir"
[ -s "$release_dir/SHA256SUMS.sig" ] || fail "the test release is not signed"
ok "release 99.0.0 in target/self-update-release, signed with a test key it carries"

step "package checks passed ($checks)"
