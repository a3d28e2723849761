#!/usr/bin/env bash
# Runs the whole test suite: formatting and lint checks, unit tests and the
# integration tests that start the real binaries on temporary datadirs.
set -euo pipefail
cd "$(dirname "$0")/.."
contrib/install-deps.sh --test
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# Known vulnerabilities in the dependency tree (RustSec; see the script).
contrib/audit.sh
cargo test --all-targets --locked
# Every fuzz target for a minute in total; fails on any crash (fuzz/README.md).
contrib/fuzz-smoke.sh
