#!/usr/bin/env bash
# The soak of `edgeinfer serve`: 32 connections of mixed traffic (valid JSON and binary
# requests, ~20% malformed or wrong-shape, a model call past its deadline every 5 s, a hot
# reload of a new version every 20 s), RSS sampled every second.
#
#   scripts/soak.sh [SECONDS]      default 300; the test suite runs the same soak for 30 s
#
# Prints the report and writes it to target/edgeinfer-test/soak-report.json. Needs the
# models of `models/fetch` (scripts/test.sh fetches them).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p edgeinfer   # the CLI the soak runs as its server
EDGEINFER_SOAK_SECS=${1:-300} cargo test --release -p edgeinfer-tests --test soak -- --nocapture
