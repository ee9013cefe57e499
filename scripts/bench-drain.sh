#!/usr/bin/env bash
# Measures how fast the delivery process drains a 100,000-record spool (a long
# outage's backlog) against a local service that leaves TCP_NODELAY off; prints
# records per second. Release build.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${CARGO_BUILD_JOBS:-2}"
exec cargo test --release -j"$jobs" -p codex-guard-hook --test it \
    -- --ignored --nocapture delivery::a_100k_backlog_drains_in_minutes
