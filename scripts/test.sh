#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and integration tests, shell
# scripts, and the end-to-end tests that drive the real Codex CLI.
#
# Installs what it needs when missing: the pinned Codex CLI from npm (into
# .tools/, never globally), shellcheck, iproute2 and bsdutils (script) from apt, ansible-core (with ansible-lint)
# from PyPI into a venv in .tools/ (scripts/test-deploy.sh), and cargo-deb,
# cargo-generate-rpm (pinned, into .tools/cargo) with rpm and cpio from apt
# (scripts/test-packages.sh), and cargo-fuzz (pinned, into .tools/cargo;
# scripts/test-fuzz.sh).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)

codex_version=0.171.0
tools="$root/.tools"
jobs="${CARGO_BUILD_JOBS:-2}"

# Each step is announced, and the time the previous one took is kept for the summary.
timings=()
step_name=""
step_start=$SECONDS
step() {
  if [ -n "$step_name" ]; then
    timings+=("$(printf '%5ds  %s' $((SECONDS - step_start)) "$step_name")")
  fi
  step_name=$1
  step_start=$SECONDS
  printf '\n==> %s\n' "$*"
}

step "Codex CLI @openai/codex@$codex_version"
codex_bin="$tools/codex-$codex_version/node_modules/.bin/codex"
if [ ! -x "$codex_bin" ]; then
  mkdir -p "$tools/codex-$codex_version"
  npm install --no-audit --no-fund --prefix "$tools/codex-$codex_version" "@openai/codex@$codex_version"
fi
installed=$("$codex_bin" --version)
case "$installed" in
  *"$codex_version"*) echo "$installed" ;;
  *) echo "expected Codex $codex_version, found: $installed" >&2; exit 1 ;;
esac
export CODEX_BIN="$codex_bin"

# Installs a Debian package when the command it provides is missing.
need() {
  local command=$1 package=$2
  command -v "$command" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y "$package" >/dev/null || { apt-get update >/dev/null && apt-get install -y "$package" >/dev/null; }
  else
    echo "$command is missing: install it (apt-get install $package) and run again" >&2
    exit 1
  fi
}

step "shellcheck; ip (iproute2) for the hanging name server test; script (bsdutils) for the terminal prompt tests"
need shellcheck shellcheck
PATH="$PATH:/usr/sbin:/sbin" need ip iproute2
need script bsdutils
mapfile -t shell_scripts < <(git ls-files -- '*.sh' .ci/run packaging/deb/postinst packaging/deb/prerm \
  packaging/deb/postrm packaging/macos/scripts/postinstall)
shellcheck "${shell_scripts[@]}"
echo "checked ${#shell_scripts[@]} scripts"

step "cargo fmt --check"
cargo fmt --all -- --check
cargo fmt --manifest-path fuzz/Cargo.toml -- --check

step "cargo clippy"
cargo clippy -j"$jobs" --workspace --all-targets -- -D warnings

step "cargo build"
cargo build -j"$jobs" --workspace --bins

step "release archive, .deb and .rpm (cargo xtask dist), unpacked and run; macOS, Windows, Homebrew files"
scripts/test-packages.sh
# The self-update tests serve the higher-version release test-packages.sh built.
export CODEX_GUARD_TEST_RELEASE_DIR="$root/target/self-update-release"

# From here on every step runs with a fresh TMPDIR that must stay empty: each test
# cleans up after itself, also what the programs it runs write to their TMPDIR.
test_tmp=$(mktemp -d "$root/target/test-tmpdir.XXXXXX")
export TMPDIR="$test_tmp"
tmpdir_stays_empty() {
  local left
  left=$(find "$test_tmp" -mindepth 1 -maxdepth 1)
  if [ -n "$left" ]; then
    printf '%s left these in TMPDIR (%s):\n%s\n' "$1" "$test_tmp" "$left" >&2
    exit 1
  fi
}

step "cargo test (unit, integration, end-to-end with the real Codex CLI)"
cargo test -j"$jobs" --workspace -- --test-threads=2
tmpdir_stays_empty "cargo test"

step "fuzzing: hook stdin, hooks.json merge, config.toml edit, inline hooks, shell commands (cargo fuzz, bounded; FUZZ_SECONDS)"
scripts/test-fuzz.sh
tmpdir_stays_empty "scripts/test-fuzz.sh"

step "deploy: the Ansible role (ansible-core from PyPI), Jamf and bootstrap scripts, for real in temp roots"
scripts/test-deploy.sh
tmpdir_stays_empty "scripts/test-deploy.sh"
rmdir "$test_tmp"

step "all tests passed"
printf '\ntime per step:\n'
printf '%s\n' "${timings[@]}"
printf '%5ds  in all\n' "$SECONDS"
