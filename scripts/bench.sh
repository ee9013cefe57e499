#!/usr/bin/env bash
# Measures codex-guard-hook's whole-process latency and peak memory per event against a
# local fake Akto, with release builds. Extra arguments go to the bench: --runs N, and
# --baseline DIR to run the codex-guard-hook in DIR (another build) interleaved with ours.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${CARGO_BUILD_JOBS:-2}"
cargo build --release -j"$jobs" -p codex-guard-hook
exec cargo bench -j"$jobs" -p codex-guard-e2e --bench hook_latency -- "$@"
