#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo fuzz with libFuzzer) of the hook's stdin parser, the
# hooks.json merge, the config.toml edit, inline hooks and shell commands: each target runs for a bounded time,
# starting from the corpus committed in fuzz/corpus/. A crash fails the run and
# leaves the input in fuzz/artifacts/<target>/.
#
#   FUZZ_SECONDS=600 scripts/test-fuzz.sh          # longer runs
#   FUZZ_SECONDS=600 scripts/test-fuzz.sh --grow   # and keep what they find in the corpus
#
# Installs cargo-fuzz (pinned) into .tools/cargo. The stable toolchain runs the
# targets without a sanitizer: the code under test has no unsafe code (the
# workspace denies it), and panics and failed assertions are what the targets look for.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
seconds="${FUZZ_SECONDS:-30}"
jobs="${CARGO_BUILD_JOBS:-2}"
cargo_fuzz_version=0.13.1
tools="$root/.tools/cargo"
export PATH="$tools/bin:$PATH"
grow=false
[ "${1:-}" = "--grow" ] && grow=true

if ! cargo fuzz --version 2>/dev/null | grep -qF "$cargo_fuzz_version"; then
  cargo install --locked -j"$jobs" --root "$tools" cargo-fuzz --version "$cargo_fuzz_version"
fi

cd fuzz
CARGO_BUILD_JOBS="$jobs" cargo fuzz build -s none
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for target in $(cargo fuzz list); do
  corpus="corpus/$target"
  # New inputs go to a scratch directory unless asked to grow the committed corpus.
  found="$scratch/$target"
  mkdir -p "$found"
  $grow && found="$corpus"
  before=$(find "$corpus" -type f | wc -l)
  log="$scratch/$target.log"
  if ! cargo fuzz run -s none "$target" "$found" "$corpus" -- \
      -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "fuzz target $target failed: the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
  new=$(find "$found" -type f | wc -l)
  $grow && new=$((new - before))
  printf '%-18s %10s runs in %ss, %s, corpus %s inputs, %s new\n' \
    "$target" "$runs" "$seconds" "$cov" "$before" "$new"
done
